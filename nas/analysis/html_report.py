"""The study report: one self-contained HTML page with its pictures embedded.

It shows the Pareto fronts with the baselines, hypervolume over trials, which
patterns, conv types, θ and growth rates sit on the front (against how often they
were tried), Optuna's parameter importances per objective, the failures and their
reasons, and the top genotypes with their connection-strength heat maps.
"""

from __future__ import annotations

import base64
import html
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.analysis.proxy_ranking import proxy_ranking
from nas.files import trial_stem
from nas.genotype import Genotype
from nas.outputs import plots
from nas.outputs.study_files import finish_order
from nas.pareto.dominance import best_trials
from nas.pareto.front import Front
from nas.pareto.objectives import OBJECTIVES
from nas.study.record import STUDY_OBJECTIVES, Status, TrialRecord
from nas.study.slots import counted, retries
from nas.training import heatmap

TOP = 6  # genotypes shown with their heat maps


def composition(trials: list[FrozenTrial]) -> dict[str, Counter]:
    """How many of these trials use each pattern, conv type, θ and growth rate (a trial whose
    blocks differ counts once for each value it uses)."""
    counts: dict[str, Counter] = {"pattern": Counter(), "conv": Counter(), "compression θ": Counter(),
                                  "growth (first block)": Counter()}
    for t in trials:
        g = Genotype.from_dict(TrialRecord.of(t).genotype)
        counts["pattern"].update({b.pattern for b in g.blocks})
        counts["conv"].update({b.conv for b in g.blocks})
        counts["compression θ"].update({str(g.transitions[0].compression) if g.transitions else "—": 1})
        counts["growth (first block)"].update({str(g.blocks[0].growth): 1})
    return counts


def importances(study: optuna.Study, objectives: list[str]) -> dict[str, dict[str, float] | str]:
    """Optuna's parameter importances for each objective, or why there are none."""
    out: dict[str, dict[str, float] | str] = {}
    for i, objective in enumerate(objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[objective] = optuna.importance.get_param_importances(study, target=lambda t, i=i: t.values[i])
        except (RuntimeError, ValueError) as e:
            out[objective] = f"not available: {str(e).splitlines()[0]}"
    return out


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def build(study: optuna.Study, out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` and its PNGs; return the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    objectives = study.user_attrs.get(STUDY_OBJECTIVES) or [f"objective {i}" for i in range(len(study.directions))]
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    front = best_trials(trials, study.directions)
    records = [TrialRecord.of(t) for t in trials]
    stopped = [r for r in records if r.stopped]
    rows = [TrialRecord.of(t).row() for t in complete] + [r.row() for r in stopped]
    sections = [f"<h1>Study {html.escape(study.study_name)}</h1>",
                f"<p>{len(counted(trials))} trials counted ({len(complete)} complete"
                + (f", {len(stopped)} stopped at a rung by the scheduler" if stopped else "") + "), objectives: "
                f"{', '.join(objectives)}; {len(front)} on the Pareto front.</p>"]

    if complete:
        pngs = plots.plot(rows, {t.number for t in front}, out_dir)
        sections.append("<h2>Pareto fronts</h2><p>Baselines are starred; Pareto trials are labelled"
                        + ("; trials stopped at a rung are grey circles at the accuracy they had there, never on "
                           "the front" if stopped else "") + ".</p>"
                        + "".join(_img(p) for p in pngs if p.suffix == ".png"))
        if all(o in OBJECTIVES for o in objectives):  # a study made by nas.search
            hv = plots.plot_hypervolume(hypervolume_history(complete, objectives), out_dir)
            sections.append("<h2>Hypervolume over trials</h2>" + _img(hv))

        sections.append("<h2>What sits on the front</h2><p>Trials using each value (a trial whose blocks "
                        "use several patterns or conv types counts once for each).</p>")
        on_front, tried = composition(front), composition(complete)
        for key in tried:
            values = sorted(tried[key], key=lambda v: (-on_front[key][v], v))
            sections.append(f"<h3>{html.escape(key)}</h3>" + _table(
                ["value", "trials on the front", "of all complete trials", "share on the front"],
                [[v, on_front[key][v], tried[key][v], f"{on_front[key][v] / tried[key][v]:.0%}"] for v in values]))

        sections.append("<h2>Parameter importances</h2><p>Optuna's default importance evaluator, per "
                        "objective, over the complete trials.</p>")
        for objective, values in importances(study, objectives).items():
            body = (html.escape(values) if isinstance(values, str) else
                    _table(["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in values.items()]))
            sections.append(f"<h3>{html.escape(objective)}</h3>{body}")

        sections.append(f"<h2>Top genotypes</h2><p>The Pareto trials, most accurate first (up to {TOP}), with "
                        "their connection strengths (rows: targets; columns: sources).</p>")
        first = OBJECTIVES.get(objectives[0])
        best = sorted(front, key=lambda t: t.values[0], reverse=first is not None and first.direction == "maximize")
        for r in map(TrialRecord.of, best[:TOP]):
            metrics = ", ".join(f"{o} {_fmt(r.metrics.get(o, v))}" for o, v in zip(objectives, r.values))
            block = f"<h3>Trial {r.number}: {html.escape(r.genotype_name)}</h3><p>{html.escape(metrics)}"
            if r.baseline:
                block += f" (baseline {html.escape(r.baseline)})"
            if r.pruned_from is not None:
                block += f" (pruned from trial {r.pruned_from})"
            block += "</p>"
            if r.heatmaps:
                png = heatmap.plot([heatmap.Heatmap.from_dict(d) for d in r.heatmaps],
                                   out_dir / f"heatmap_{trial_stem(r.number, r.genotype_id)}.png", r.genotype_name)
                block += _img(png)
            block += f"<details><summary>genotype</summary><pre>{html.escape(json.dumps(r.genotype, indent=1))}" \
                     "</pre></details>"
            sections.append(block)

    ranking = proxy_ranking(records)
    if len(ranking) > 1:
        sections.append("<h2>Zero-cost proxies on this study</h2><p>How each proxy scored before training ranks "
                        "the trained trials' validation accuracy (Spearman ρ), and what it knows beyond size: the "
                        "partial ρ given log-parameters. A proxy near 0 or below adds nothing a screen by size "
                        "(<code>screen=size</code>) lacks.</p>" + _table(
                            ["score", "trials", "ρ", "partial ρ given size", "median seconds"],
                            [[r["proxy"], r["trials"], _fmt(r["rho"]), _fmt(r["partial_rho"]), _fmt(r["seconds"])]
                             for r in ranking]))
    if stopped:
        sections.append(stopped_section(stopped))
    bad = [r for r in records if r.state == TrialState.FAIL or r.status in (Status.INFEASIBLE, Status.DUPLICATE)]
    reruns = retries(trials)
    reasons = Counter(r.shown_status.value for r in bad)
    sections.append("<h2>Failures and exclusions</h2>" + (
        _table(["status", "trials"], [[k, v] for k, v in reasons.most_common()])
        + _table(["trial", "status", "reason", "genotype"],
                 [[r.number, r.shown_status.value, r.shown_reason(reruns), r.genotype_name] for r in bad])
        if bad else "<p>None.</p>"))

    page = out_dir / "report.html"
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}img{max-width:100%}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
             "text-align:left;font-size:90%}")
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(study.study_name)}"
                    f"</title><style>{style}</style></head><body>{''.join(sections)}</body></html>")
    return page



def stopped_section(stopped: list[TrialRecord]) -> str:
    """The trials the scheduler stopped: how many at each rung, then each with its place there."""
    by_epoch = Counter(r.rungs[-1]["epoch"] for r in stopped if r.rungs)
    return ("<h2>Stopped at a rung</h2><p>Trials the scheduler stopped because they ranked outside the first "
            "1/eta of the trials at a rung (Pareto order on the objectives, with the rung's accuracy); they "
            "count towards n_trials and are not on the front.</p>"
            + _table(["stopped after epoch", "trials"], [[e, n] for e, n in sorted(by_epoch.items())])
            + _table(["trial", "stopped after epoch", "val_accuracy there", "reason", "genotype"],
                     [[r.number, r.rungs[-1]["epoch"] if r.rungs else "", _fmt(r.metrics.get("val_accuracy")),
                       r.reason, r.genotype_name] for r in stopped]))


def hypervolume_history(complete: list[FrozenTrial], objectives: list[str]) -> list[float]:
    """The hypervolume after each completed trial, in the order they completed (as hypervolume.csv has it)."""
    front = Front(objectives)
    history = []
    for t in sorted(complete, key=finish_order):
        front.add(t.number, t.values)
        history.append(front.value)
    return history
