"""The accuracy-versus-size plots of a study, and its hypervolume history.

Plots read each trial's stored metrics, so accuracy against parameters and against
multiply-adds is drawn whatever the study's objectives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nas.files import replacing
from nas.study.record import BASELINE, Status


def _front_2d(x: np.ndarray, acc: np.ndarray) -> np.ndarray:
    order = np.argsort(x)
    best, keep = -1.0, []
    for i in order:
        if acc[i] > best:
            keep.append(i)
            best = acc[i]
    return np.array(keep, int)


AXES = (("params", "parameters"), ("macs", "multiply-adds per image"))


STOPPED_LABEL = "stopped at a rung (accuracy there)"


def _groups(rows: list[dict[str, Any]], pareto: set[int]) -> tuple[np.ndarray, ...]:
    """Validation accuracy, and which rows are on the front, which are baselines and which the
    scheduler stopped at a rung (drawn grey and hollow, never on the front: their accuracy is a
    shorter budget's)."""
    acc = np.array([r["val_accuracy"] for r in rows], float)
    on_front = np.array([r["trial"] in pareto for r in rows], bool)
    stopped = np.array([r.get("status") == Status.STOPPED.value for r in rows], bool)
    base = np.array([bool(r.get(BASELINE)) for r in rows], bool) & ~stopped
    return acc, on_front, base, stopped


def plot(rows: list[dict[str, Any]], pareto: set[int], out_dir: Path) -> list[Path]:
    """pareto.png (accuracy vs parameters and vs MACs) and one interactive HTML per axis."""
    import matplotlib.pyplot as plt

    written = []
    for key, label in AXES:
        path = out_dir / f"pareto_{key}.html"
        with replacing(path) as tmp:
            figure(rows, pareto, key, label).write_html(tmp, include_plotlyjs=True, full_html=True)
        written.append(path)
    fig = picture(rows, pareto)
    path = out_dir / "pareto.png"
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return [path, *written]


def picture(rows: list[dict[str, Any]], pareto: set[int]):
    """The matplotlib figure of pareto.png, its legend below both panels (never over a point)."""
    import matplotlib.pyplot as plt

    acc, on_front, base, stopped = _groups(rows, pareto)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.4), constrained_layout=True)
    for ax, (key, label) in zip(axes, AXES):
        x = np.array([r[key] for r in rows], float)
        if stopped.any():
            ax.scatter(x[stopped], acc[stopped], s=16, facecolors="none", edgecolors="0.75", label=STOPPED_LABEL)
        other = ~on_front & ~stopped
        if other.any():
            ax.scatter(x[other], acc[other], s=18, c="0.55", label="other trials")
        ax.scatter(x[on_front], acc[on_front], s=30, c="tab:blue", label="Pareto set")
        full = np.flatnonzero(~stopped)
        line = full[_front_2d(x[full], acc[full])]
        ax.step(x[line], acc[line], where="post", c="tab:blue", lw=1, alpha=0.6)
        if base.any():
            ax.scatter(x[base], acc[base], s=140, marker="*", c="tab:orange", edgecolors="k", label="baselines",
                       zorder=3)
        for i, r in enumerate(rows):
            if on_front[i] or base[i]:
                ax.annotate(r.get(BASELINE) or r["name"], (x[i], acc[i]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8, frameon=False)
    return fig


def figure(rows: list[dict[str, Any]], pareto: set[int], key: str, label: str):
    """The interactive accuracy-vs-``key`` chart (a Plotly figure): the HTML page and the W&B chart."""
    import plotly.graph_objects as go

    acc, on_front, base, stopped = _groups(rows, pareto)
    x = np.array([r[key] for r in rows], float)
    hover = [f"trial {r['trial']}: {r['name']}<br>acc {r['val_accuracy']:.4f}<br>{key} {r[key]:,}"
             + (f"<br>baseline {r[BASELINE]}" if r.get(BASELINE) else "") for r in rows]
    traces = []
    for mask, name, marker in ((stopped, STOPPED_LABEL, dict(color="lightgray", size=6, symbol="circle-open")),
                               (~on_front & ~base & ~stopped, "other trials", dict(color="darkgray", size=7)),
                               (on_front & ~base, "Pareto set", dict(color="royalblue", size=9)),
                               (base, "baselines", dict(color="orange", size=14, symbol="star",
                                                        line=dict(color="black", width=1)))):
        idx = np.flatnonzero(mask)
        if not len(idx):  # no empty entry in the legend
            continue
        traces.append(go.Scatter(x=x[idx], y=acc[idx], mode="markers+text" if name in ("Pareto set", "baselines") else "markers",
                                 name=name, marker=marker, hovertext=[hover[i] for i in idx], hoverinfo="text",
                                 text=[rows[i].get(BASELINE) or rows[i]["name"] for i in idx],
                                 textposition="top center", textfont=dict(size=9)))
    return go.Figure(traces, layout=dict(title=f"validation accuracy vs {label}", xaxis=dict(type="log", title=label),
                                         yaxis=dict(title="validation accuracy"), template="plotly_white",
                                         legend=dict(orientation="h", yanchor="top", y=-0.15)))


def plot_hypervolume(history: list[float], out_dir: Path) -> Path:
    """hypervolume.png: the hypervolume after each completed trial, in the order they completed."""
    import matplotlib.pyplot as plt

    fig = hypervolume_picture(history)
    path = out_dir / "hypervolume.png"
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def hypervolume_picture(history: list[float]):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(range(1, len(history) + 1), history, marker="o", ms=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole trials
    ax.set_xlabel("completed trials")
    ax.set_ylabel("hypervolume (objectives on fixed ranges)")
    ax.grid(alpha=0.3)
    return fig
