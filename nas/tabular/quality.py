"""How good a simulated study's front is: measured against the table's reference front.

With seed noise (:mod:`nas.tabular.noise`) a study sees one noisy run per trial, and the
values it was told are biased upwards on its front (the lucky draws are what put genotypes
there). So a study is measured by the genotypes on its front, as it saw them, taken at their
expected values (the mean of their runs, the noise model's mean), against the front of every
genotype's expected values. Without noise every trial replays a genotype's first run, and the
first runs are the reference.
"""

from __future__ import annotations

from collections.abc import Mapping

from nas.pareto.front import Front
from nas.tabular.table_file import Run, Table


def reference(table: Table, noise: bool) -> list[Run]:
    """Every genotype as studies are measured: its expected run, or without noise its first."""
    return table.expected() if noise else table.first()


def true_hypervolume(table: Table, objectives: list[str], noise: bool) -> float:
    """The hypervolume of the reference front: what a study's regret is measured against."""
    front = Front(objectives)
    for r in reference(table, noise):
        if r.complete:
            front.add(0, [r.final[o] for o in objectives])
    return front.value


def found(events: list[tuple[float, str, list[float]]], table: Table, objectives: list[str],
          noise: bool) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """From a study's completed trials, ``(when, genotype id, values it was told)`` in time order:
    after each, the hypervolume of its front's genotypes at their reference values (``found``; it
    can fall when a lucky draw pushes a truly better genotype off the front), and of its front as
    it saw it (``observed``)."""
    return found_in(events, {r.genotype_id: r for r in reference(table, noise)}, objectives)


def found_in(events: list[tuple[float, str, list[float]]], truth: Mapping[str, Run],
             objectives: list[str]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """:func:`found`, against any genotype's reference run in ``truth`` (a surrogate's expected runs,
    for a space no table holds)."""
    front, ids = Front(objectives), {}
    points, observed = [(0.0, 0.0)], [(0.0, 0.0)]
    for n, (when, genotype_id, values) in enumerate(events):
        ids[n] = genotype_id
        if front.add(n, values):
            measured = Front(objectives)
            for m in front.members:
                measured.add(m, [truth[ids[m]].final[o] for o in objectives])
            points.append((when, measured.value))
        observed.append((when, front.value))
    return points, observed
