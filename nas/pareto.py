"""Pareto fronts, hypervolume and the accuracy-versus-size plots of a study.

Plots read each trial's stored metrics (``user_attrs``), so accuracy against
parameters and against multiply-adds is drawn whatever the study's objectives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MAXIMIZE = {"val_accuracy", "images_per_second"}


def hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``losses`` (minimisation) up to ``reference``, by slicing
    along the first objective (exact; fine for the few hundred points of a study)."""
    points = losses[np.all(losses < reference, axis=1)]
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    points = points[np.argsort(points[:, 0])]
    volume = 0.0
    for i, p in enumerate(points):
        upper = points[i + 1, 0] if i + 1 < len(points) else reference[0]
        if upper > p[0]:
            volume += (upper - p[0]) * hypervolume(points[: i + 1, 1:], reference[1:])
    return volume


def normalised_losses(rows: list[dict[str, Any]], objectives: list[str]) -> np.ndarray:
    """Objectives as losses in [0, 1]: accuracy as error, sizes over the study's largest."""
    cols = []
    for o in objectives:
        v = np.array([float(r[o]) for r in rows])
        if o == "val_accuracy":
            cols.append(1 - v)
        elif o in MAXIMIZE:
            cols.append(1 - v / max(v.max(), 1e-12))
        else:
            cols.append(v / max(np.abs(v).max(), 1e-12))
    return np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0))


def hypervolume_history(rows: list[dict[str, Any]], objectives: list[str]) -> list[float]:
    """Hypervolume of the front after each completed trial (in trial order),
    with the normalisation of :func:`normalised_losses` and reference 1.1."""
    if not rows:
        return []
    losses = normalised_losses(rows, objectives)
    reference = np.full(losses.shape[1], 1.1)
    return [hypervolume(losses[: i + 1], reference) for i in range(len(rows))]


def _front_2d(x: np.ndarray, acc: np.ndarray) -> np.ndarray:
    order = np.argsort(x)
    best, keep = -1.0, []
    for i in order:
        if acc[i] > best:
            keep.append(i)
            best = acc[i]
    return np.array(keep, int)


def plot(rows: list[dict[str, Any]], pareto: set[int], out_dir: Path) -> list[Path]:
    """pareto.png (accuracy vs parameters and vs MACs) and one interactive HTML per axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    written = []
    acc = np.array([r["val_accuracy"] for r in rows], float)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    for ax, key, label in ((axes[0], "params", "parameters"), (axes[1], "macs", "multiply-adds per image")):
        x = np.array([r[key] for r in rows], float)
        on_front = np.array([r["trial"] in pareto for r in rows], bool)
        base = np.array([bool(r.get("baseline")) for r in rows], bool)
        ax.scatter(x[~on_front], acc[~on_front], s=18, c="0.7", label="trials")
        ax.scatter(x[on_front], acc[on_front], s=30, c="tab:blue", label="Pareto set")
        line = _front_2d(x, acc)
        ax.step(x[line], acc[line], where="post", c="tab:blue", lw=1, alpha=0.6)
        ax.scatter(x[base], acc[base], s=140, marker="*", c="tab:orange", edgecolors="k", label="baselines", zorder=3)
        for i, r in enumerate(rows):
            if on_front[i] or base[i]:
                ax.annotate(r.get("baseline") or r["name"], (x[i], acc[i]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)

        hover = [f"trial {r['trial']}: {r['name']}<br>acc {r['val_accuracy']:.4f}<br>{key} {r[key]:,}"
                 + (f"<br>baseline {r['baseline']}" if r.get("baseline") else "") for r in rows]
        traces = []
        for mask, name, marker in ((~on_front & ~base, "trials", dict(color="lightgray", size=7)),
                                   (on_front & ~base, "Pareto set", dict(color="royalblue", size=9)),
                                   (base, "baselines", dict(color="orange", size=14, symbol="star",
                                                            line=dict(color="black", width=1)))):
            idx = np.flatnonzero(mask)
            traces.append(go.Scatter(x=x[idx], y=acc[idx], mode="markers+text" if name != "trials" else "markers",
                                     name=name, marker=marker, hovertext=[hover[i] for i in idx], hoverinfo="text",
                                     text=[rows[i].get("baseline") or rows[i]["name"] for i in idx],
                                     textposition="top center", textfont=dict(size=9)))
        page = go.Figure(traces, layout=dict(title=f"validation accuracy vs {label}", xaxis=dict(type="log", title=label),
                                             yaxis=dict(title="validation accuracy"), template="plotly_white"))
        path = out_dir / f"pareto_{key}.html"
        page.write_html(path, include_plotlyjs=True, full_html=True)
        written.append(path)
    path = out_dir / "pareto.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path, *written]


def plot_hypervolume(history: list[float], trials: list[int], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(trials, history, marker="o", ms=3)
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (normalised objectives)")
    ax.grid(alpha=0.3)
    path = out_dir / "hypervolume.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
