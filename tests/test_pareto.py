
import pytest

from nas.outputs.plots import STOPPED_LABEL, figure, hypervolume_picture, picture, plot, plot_hypervolume


def test_plots_are_written(tmp_path):
    rows = [{"trial": i, "name": f"g{i}", "val_accuracy": a, "params": p, "macs": 10 * p, "baseline": b}
            for i, (a, p, b) in enumerate([(0.5, 100, "densenet_bc40_k12"), (0.4, 50, ""), (0.6, 300, "")])]
    paths = plot(rows, {0, 1, 2}, tmp_path)
    assert [p.name for p in paths] == ["pareto.png", "pareto_params.html", "pareto_macs.html"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    html = paths[1].read_text()
    assert "densenet_bc40_k12" in html and "g1" in html and "plotly" in html.lower()
    assert plot_hypervolume([0.1, 0.2, 0.2], tmp_path).read_bytes()[:4] == b"\x89PNG"


def _rows(baselines):
    return [{"trial": i, "name": f"g{i}", "val_accuracy": a, "params": p, "macs": 10 * p,
             "baseline": "densenet_bc40_k12" if baselines and i == 0 else ""}
            for i, (a, p) in enumerate([(0.5, 100), (0.4, 50), (0.6, 300), (0.3, 400)])]


@pytest.mark.parametrize("baselines", [True, False])
def test_the_legends_name_only_what_is_drawn_and_sit_outside_the_data(baselines):
    import matplotlib.pyplot as plt

    fig = picture(_rows(baselines), {0, 1, 2})
    fig.canvas.draw()
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["other trials", "Pareto set"] + ["baselines"] * baselines
    box = legend.get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    plt.close(fig)
    chart = figure(_rows(baselines), {0, 1, 2}, "params", "parameters")
    names = {trace.name: len(trace.x) for trace in chart.data}
    assert names == {"other trials": 1, "Pareto set": 3 - baselines, **({"baselines": 1} if baselines else {})}


def test_stopped_trials_are_drawn_grey_and_never_make_the_front_line():
    import matplotlib.pyplot as plt

    rows = _rows(False) + [{"trial": 9, "name": "g9", "val_accuracy": 0.95, "params": 10, "macs": 100,
                            "baseline": "", "status": "stopped"}]
    fig = picture(rows, {0, 1, 2})
    fig.canvas.draw()
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [STOPPED_LABEL, "other trials", "Pareto set"]
    step = fig.axes[0].lines[0]  # the front's line: its best point is trial 2's 0.6, not the stopped 0.95
    assert max(step.get_ydata()) == 0.6 and 10 not in step.get_xdata()
    plt.close(fig)
    chart = figure(rows, {0, 1, 2}, "params", "parameters")
    assert {trace.name: len(trace.x) for trace in chart.data} == {STOPPED_LABEL: 1, "other trials": 1, "Pareto set": 3}


def test_the_hypervolume_plot_counts_whole_trials():
    import matplotlib.pyplot as plt

    fig = hypervolume_picture([0.1, 0.2, 0.25])
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    plt.close(fig)


def test_no_legend_entry_for_a_group_with_no_points():
    import matplotlib.pyplot as plt

    fig = picture(_rows(False), {0, 1, 2, 3})  # every trial on the front
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Pareto set"]
    plt.close(fig)
