"""Which sampler and scheduler find the front fastest? Simulated studies on the tabular benchmark.

Every method searches ``search_space=dense_grid`` through ``python -m nas.search``'s own study
loop with ``evaluator=table`` (:mod:`nas.workers.simulate`): 1 or 4 asynchronous simulated
workers, epochs that take the seconds the table recorded, the real samplers, rung judge and
bookkeeping. Each study gets the same simulated time, the horizon: what training every
genotype of the table once would take on its workers (an exhaustive grid ends exactly then).

- ``random``, ``tpe``, ``nsga2`` (and ``gp``, on request: its fit grows with the trials): every trial
  trained for the table's full budget;
- ``tpe+asha``, ``random+asha``, ``tpe+hyperband``: trials stopped at rungs (the shipped scheduler
  settings: eta 3, the first rung at a third of the budget); ``METHOD@eta=2,min_epochs=1`` sets others;
- ``syne-tune-moasha`` (when ``syne-tune`` is installed: ``pip install -e ".[peers]"``): Syne
  Tune's multi-objective ASHA, random configurations, rungs at epochs 1 and 3 (compared with our
  ``random+asha@min_epochs=1``, the same algorithm and rungs), on the same table through
  Syne Tune's own simulator (``UserBlackboxBackend``); its time also counts its scheduler's
  real computation and the simulator's default delays, as Syne Tune does.

Every trial replays a run drawn at its seed (``evaluator.noise``, :mod:`nas.tabular.noise`): one of
its genotype's recorded runs, or its one run moved by the table's seed noise; ``--no-noise``
replays first runs, as before. The reference is the expected front (every genotype at the mean of
its runs), and a study is measured by the front it found: the genotypes on its front, as it saw
them, taken at their expected values (the noisy values it saw are kept as ``observed``).

For each method it reports, against simulated time, the hypervolume of that front
(the studies' own fixed normalisation), its regret to the expected front, and the time to
reach 90%, 95% and 99% of the expected front's hypervolume: means over seeds with 95% intervals (Student t;
a seed that never reaches a target counts as the horizon, so those means are lower bounds and
the share reached is printed beside them). Then the issue's three targets.

Every study appends one line to ``--results`` (JSON lines) and is not run again (same method,
workers, seed and settings): stopped, the benchmark goes on where it was.

    python benchmarks/search_quality.py                      # 30 seeds × 9 methods × 1 and 4 workers
    python benchmarks/search_quality.py --seeds 3 --workers 1   # a quick look
    python benchmarks/search_quality.py --report             # the tables and the plot from the results file
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from hydra import compose, initialize_config_dir
from scipy import stats

import nas
from nas.runtime import startup
from nas.settings import parse_search
from nas.study.record import Status, TrialRecord
from nas.study.slots import counted
from nas.tabular.noise import SeedNoise, draw
from nas.tabular.quality import found, reference, true_hypervolume
from nas.tabular.surrogate_model import Surrogate
from nas.tabular.table_file import Table
from nas.workers.simulate import run

REPO = Path(__file__).resolve().parents[1]
CONF = str(Path(nas.__file__).parent / "conf")
METHODS = {
    "random": ["sampler=random", "scheduler=none"],
    "tpe": ["sampler=tpe", "scheduler=none"],
    "nsga2": ["sampler=nsga2", "scheduler=none"],
    "gp": ["sampler=gp", "scheduler=none"],
    "tpe+asha": ["sampler=tpe", "scheduler=asha"],
    "random+asha": ["sampler=random", "scheduler=asha"],
    "tpe+hyperband": ["sampler=tpe", "scheduler=hyperband"],
    "tpe+screen=size": ["sampler=tpe", "scheduler=none", "screen=size"],
    "tpe+screen=zero_cost": ["sampler=tpe", "scheduler=none", "screen=zero_cost"],
}
PEER = "syne-tune-moasha"
PEER_RANKED = "syne-tune-moasha-ranked"  # its rung decisions on each trial's own rank (see peer())
PEERS = (PEER, PEER_RANKED)
MATCH = "random+asha@min_epochs=1"  # ours with the peers' algorithm and rungs (grace period 1, reduction factor 3)
OBJECTIVES = ["val_accuracy", "params", "macs"]
FRACTIONS = (0.05, 0.1, 0.2, 1 / 3, 0.5, 0.75, 1.0)  # of the horizon, where the hypervolume is reported
TARGETS = (0.9, 0.95, 0.99)  # shares of the true hypervolume


@functools.lru_cache(maxsize=None)
def table_of(spec: str, surrogate: str | None = None) -> Table:
    """The world the studies search, read once per process (every study, digest and report reads it): the
    table, or with ``surrogate`` every genotype of its space at the surrogate's expected run (the
    NAS-Bench-301 check: the same methods on a surrogate fitted on part of the table, each measured in its
    own world, and their rankings compared with the table's)."""
    return surrogate_of(surrogate).tabulate() if surrogate else Table.load(spec)


@functools.lru_cache(maxsize=None)
def surrogate_of(path: str) -> Surrogate:
    return Surrogate.load(path)


def world(args: argparse.Namespace) -> Table:
    return table_of(args.table, args.surrogate)


def noise_model(args: argparse.Namespace) -> SeedNoise | None:
    """The seed noise of each trial's run: the table's, or the surrogate's."""
    if not args.noise:
        return None
    return surrogate_of(args.surrogate).noise if args.surrogate else SeedNoise.of(world(args))


def overrides(method: str) -> list[str]:
    """A method's settings: its base (``tpe+asha``) and, after ``@``, settings of its scheduler
    (``tpe+asha@eta=2,min_epochs=2``) or screen (``tpe+screen=zero_cost@by=[zico,naswot],candidates=4``).
    No method records proxies beyond what its screen ranks by: their seconds would count in its time."""
    base, _, extra = method.partition("@")
    group = "screen" if "screen" in base else "scheduler"
    return [*METHODS[base], "proxies=[]", *(f"{group}.{kv}" for kv in re.split(r",(?![^\[]*\])", extra) if kv)]


def method_name(text: str) -> str:
    """``--methods`` entries: a method, a peer, or a scheduled or screened method with settings."""
    base, _, extra = text.partition("@")
    tunable = base in METHODS and ("screen" in base or "none" not in METHODS[base][1])
    if text in PEERS or (base in METHODS and (not extra or tunable)):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: choose among {', '.join([*METHODS, *PEERS])}, optionally with "
                                     "scheduler settings after @ for a scheduled one (tpe+asha@eta=2,min_epochs=2) "
                                     "or screen settings for a screened one (tpe+screen=zero_cost@by=[zico])")


def order(names) -> list[str]:
    """The shipped methods first, then variants, then the peers."""
    known = [*METHODS, *PEERS]
    return sorted(set(names), key=lambda m: (m in PEERS, known.index(m) if m in known else len(METHODS), m))


def horizon(table: Table, workers: int, noise: bool) -> float:
    """Simulated seconds to train every genotype once on ``workers`` workers (at their reference pace)."""
    return sum(r.overhead + sum(e[3] + e[4] for e in r.epochs) for r in reference(table, noise)) / workers


def study_settings(method: str, workers: int, seed: int, args: argparse.Namespace, budget: float):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=[
            *overrides(method), "search_space=dense_grid",
            *(["evaluator=surrogate", f"evaluator.surrogate={args.surrogate}"] if args.surrogate
              else ["evaluator=table", f"evaluator.table={args.table}"]),
            f"evaluator.workers={workers}", f"seed={seed}", f"n_trials={args.max_trials}", f"timeout={budget}",
            "logger=none", "enqueue_baselines=false", "study_name=quality", f"objectives=[{','.join(OBJECTIVES)}]",
            f"evaluator.noise={args.noise}"])
    return parse_search(cfg)


def scheduler_of(method: str, args: argparse.Namespace) -> dict:
    """The scheduler a method runs with on the table (its shipped defaults resolved), as a study records it."""
    if method in PEERS:
        return {}
    scheduler = study_settings(method, 1, 0, args, 1.0).scheduler
    return dataclasses.replace(scheduler, max_epochs=world(args).epochs).setup() \
        if scheduler.active else scheduler.setup()


def screen_of(method: str, args: argparse.Namespace) -> dict:
    """The screen a method runs with (the shipped defaults resolved), as a study records it."""
    return {"name": "none"} if method in PEERS else study_settings(method, 1, 0, args, 1.0).screen.setup()


def ours(method: str, workers: int, seed: int, args: argparse.Namespace, budget: float) -> dict:
    study, clock = run(study_settings(method, workers, seed, args, budget), log=lambda m: None)
    trials = study.get_trials(deepcopy=False)
    records = {t.number: TrialRecord.of(t) for t in trials}
    done = sorted((t for t in trials if records[t.number].status == Status.OK), key=lambda t: records[t.number].ended)
    points, observed = found([(records[t.number].ended, records[t.number].genotype_id, list(t.values)) for t in done],
                              world(args), OBJECTIVES, args.noise)
    numbers = sorted(t.number for t in counted(trials))
    ends = sorted(records[n].ended for n in numbers if records[n].ended is not None)
    at200 = ends[199] if len(ends) >= 200 else None  # when the study had counted 200 trials
    trained = [r for r in records.values() if r.status.trained]
    return {"points": points, "observed": observed, "at200": at200, "trials": len(numbers), "trained": len(trained),
            "epochs": sum(len(r.history) for r in trained), "end": clock.now(),
            "scheduler": study.user_attrs["setup"]["scheduler"], "screen": study.user_attrs["setup"]["screen"],
            "candidates": sum(r.status == Status.SCREENED for r in records.values()),
            "proxy_seconds": sum(p["seconds"] for r in records.values() for p in r.proxies.values())}


def peer(workers: int, seed: int, args: argparse.Namespace, budget: float, table: Table, ranked: bool) -> dict:
    """Syne Tune's MOASHA on the same table, through its own simulator (:func:`moasha`). Its simulator
    replays one value per genotype and epoch, so with noise each study sees one draw of every genotype
    (drawn at the study's seed), where ours draws per trial."""
    import pandas as pd
    from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
    from syne_tune.config_space import choice, randint

    noise = noise_model(args)
    runs = [draw(table.runs_of(g), noise, seed, g) for g in table.genotypes]
    names = list(runs[0].params)
    rows = pd.DataFrame([{k: str(r.params[k]) for k in names} for r in runs])
    ids = {tuple(str(r.params[k]) for k in names): r.genotype_id for r in runs}
    epochs = table.epochs
    values = np.zeros((len(runs), 1, epochs, 4))  # error, params, macs, elapsed seconds
    for i, r in enumerate(runs):
        elapsed = r.overhead
        for e in range(epochs):  # a run stopped early (at chance) keeps its last result, epochs at its last epoch's pace
            entry = r.epochs[min(e, len(r.epochs) - 1)]
            elapsed += entry[3] + entry[4]
            values[i, 0, e] = (1 - entry[0], r.n_params, r.macs, elapsed)
    space = {k: choice(sorted(set(rows[k]))) for k in names}
    blackbox = BlackboxTabular(rows, space, {"epoch": randint(1, epochs)}, values,
                               objectives_names=["error", "params", "macs", "elapsed_time"])
    seen, results = moasha(blackbox, lambda config: ids[tuple(str(config[k]) for k in names)], epochs, workers, seed,
                           budget, ranked)
    points, observed = found(seen, table, OBJECTIVES, args.noise)
    return {"points": points, "observed": observed, "at200": None, "trials": len(set(results)), "trained": len(set(results)),
            "epochs": len(results), "end": budget}


def moasha(blackbox, identify, epochs: int, workers: int, seed: int, budget: float,
           ranked: bool) -> tuple[list[tuple[float, str, list[float]]], list[int]]:
    """Syne Tune's MOASHA (random configurations, rungs at epochs 1 and 3: grace period 1, reduction factor 3) on
    ``blackbox`` (objectives error, params, macs, elapsed_time per epoch), through Syne Tune's simulator, for
    ``budget`` simulated seconds: every full-budget result as ``(when, genotype id, values)`` in time order,
    ``identify`` naming a configuration's genotype (None: not one to count, e.g. over a size cap), and the trial
    of every epoch result.

    As shipped (0.16), MOASHA's rung decision reads ``NonDominatedPriority``'s result (the rung's
    results in non-dominated order: a list of indices) as one priority per result, so a new result
    is stopped or kept by the index of whichever result sorts last, not by its own place: a result
    that dominates every other at its rung can be stopped. ``ranked`` passes a priority that gives
    each result its position in that order instead, the decision the MOASHA paper describes."""
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.constants import ST_TUNER_TIME
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA
    from syne_tune.optimizer.schedulers.multiobjective.multiobjective_priority import NonDominatedPriority

    class Ranked(NonDominatedPriority):
        def priority_unsafe(self, objectives: np.ndarray) -> np.ndarray:
            return np.argsort(super().priority_unsafe(objectives))  # each result's position in the order

    logging.getLogger("syne_tune").setLevel(logging.WARNING)
    seen: list[tuple[float, str, list[float]]] = []
    results: list[int] = []

    class Watch(SimulatorCallback):
        def on_trial_result(self, trial, status, result, decision):
            super().on_trial_result(trial, status, result, decision)
            results.append(trial.trial_id)
            if int(result["epoch"]) == epochs and (genotype_id := identify(trial.config)) is not None:
                seen.append((float(result[ST_TUNER_TIME]), genotype_id,
                             [1 - result["error"], result["params"], result["macs"]]))

    np.random.seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SYNETUNE_FOLDER"] = tmp
        scheduler = MOASHA(blackbox.configuration_space, metrics=["error", "params", "macs"], do_minimize=True,
                           time_attr="epoch", max_t=epochs, grace_period=1, reduction_factor=3, random_seed=seed,
                           multiobjective_priority=Ranked() if ranked else None)
        backend = UserBlackboxBackend(blackbox=blackbox, elapsed_time_attr="elapsed_time", seed=0)
        tuner = Tuner(trial_backend=backend, scheduler=scheduler, n_workers=workers, sleep_time=0,
                      stop_criterion=StoppingCriterion(max_wallclock_time=budget), callbacks=[Watch()],
                      results_update_interval=1e9, print_update_interval=1e9, save_tuner=False,
                      metadata={"seed": seed})
        tuner.run()
    return [e for e in sorted(seen, key=lambda e: e[0]) if e[0] <= budget], results


def one(job: tuple[str, int, int, argparse.Namespace]) -> dict:
    method, workers, seed, args = job
    startup()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = world(args)
    budget = horizon(table, workers, args.noise)
    began = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # Syne Tune's tuner prints its progress
        result = (peer(workers, seed, args, budget, table, method == PEER_RANKED) if method in PEERS
                  else ours(method, workers, seed, args, budget))
    return {"method": method, "workers": workers, "seed": seed, "settings": settings(args), "horizon": budget,
            **result, "real_seconds": round(time.perf_counter() - began, 2)}


def settings(args: argparse.Namespace) -> dict:
    """What a study's result depends on besides its method, workers and seed."""
    table = world(args)
    return {"table": args.table, **({"surrogate": Path(args.surrogate).name} if args.surrogate else {}),
            "table_digest": table.digest(), "max_trials": args.max_trials,
            "objectives": OBJECTIVES, **({"noise": True} if args.noise else {})}


def finished(args: argparse.Namespace) -> dict[tuple[str, int, int], dict]:
    path = args.results
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    mine = settings(args)
    means: dict[str, tuple[dict, dict]] = {}  # a row counts only if it ran with the scheduler and screen its
    for r in rows:                             # method means now
        if r["method"] not in means:
            means[r["method"]] = scheduler_of(r["method"], args), screen_of(r["method"], args)
    return {(r["method"], r["workers"], r["seed"]): r for r in rows
            if r["settings"] == mine and (r.get("scheduler", {}), r.get("screen", {"name": "none"})) == means[r["method"]]}


# ---- the report ----------------------------------------------------------------------------------------

def at(points: list, seconds: float) -> float:
    """The hypervolume at ``seconds``: the last point at or before it (with noise a front's expected
    hypervolume can fall, when a lucky draw displaces a better genotype)."""
    return [hv for s, hv in points if s <= seconds][-1]


def reached(points: list, target: float) -> float | None:
    return next((s for s, hv in points if hv >= target * (1 - 1e-9)), None)  # equal up to rounding


def mean_ci(xs: list[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% Student-t interval."""
    x = np.asarray(xs, float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def fmt(mean: float, half: float, scale: float = 1.0, digits: int = 3) -> str:
    return f"{mean / scale:.{digits}f} ± {half / scale:.{digits}f}"


def report(runs: dict[tuple[str, int, int], dict], args: argparse.Namespace) -> list[str]:
    table = world(args)
    best = true_hypervolume(table, OBJECTIVES, args.noise)
    truth = "the expected front's hypervolume (seed noise on)" if args.noise else "true hypervolume (first runs, no noise)"
    name = f"surrogate {Path(args.surrogate).name} of" if args.surrogate else "table"
    out = [f"{name} {args.table}: {len(table.genotypes)} genotypes, {table.epochs} epochs; {truth} "
           f"{best:.4f} on {', '.join(OBJECTIVES)}; mean ± 95% CI over seeds; times in simulated hours"]
    methods = order(k[0] for k in runs)
    for workers in sorted({k[1] for k in runs}):
        budget = horizon(table, workers, args.noise)
        out += ["", f"== {workers} worker(s): horizon {budget / 3600:.2f} h (every genotype trained once) =="]
        head = f"{'method':24s} {'seeds':>5s} " + " ".join(f"{'HV@' + format(f, '.2g') + 'H':>15s}" for f in FRACTIONS)
        out.append(head)
        for m in methods:
            rs = [r for k, r in runs.items() if k[0] == m and k[1] == workers]
            if rs:
                out.append(f"{m:24s} {len(rs):5d} " + " ".join(
                    f"{fmt(*mean_ci([at(r['points'], f * budget) for r in rs])):>15s}" for f in FRACTIONS))
        out.append(f"{'method':24s} {'regret@H':>15s} " + " ".join(f"{'t' + format(q, '.0%'):>22s}" for q in TARGETS)
                   + f" {'trials':>7s} {'trained':>8s} {'epochs':>7s} {'end/H':>6s} {'real s':>7s}")
        for m in methods:
            rs = [r for k, r in runs.items() if k[0] == m and k[1] == workers]
            if not rs:
                continue
            cells = []
            for q in TARGETS:
                times = [reached(r["points"], q * best) for r in rs]
                got = sum(t is not None for t in times)
                cells.append(f"{fmt(*mean_ci([budget if t is None else t for t in times]), 3600, 2)} "
                             f"({got}/{len(rs)})")
            counts = [np.mean([r[k] for r in rs]) if rs[0][k] is not None else float("nan")
                      for k in ("trials", "trained", "epochs", "real_seconds")]
            regret = [max(0.0, best - at(r["points"], budget)) for r in rs]  # below 0 only by rounding
            out.append(f"{m:24s} {fmt(*mean_ci(regret)):>15s} "
                       + " ".join(f"{c:>22s}" for c in cells)
                       + f" {counts[0]:7.0f} {counts[1]:8.0f} {counts[2]:7.0f} "
                   + f"{np.mean([min(r['end'], budget) for r in rs]) / budget:6.2f} {counts[3]:7.1f}")
        out += targets(runs, workers, budget)
    return out


def ratio_ci(times: list[float], references: list[float], seed: int = 0) -> tuple[float, float]:
    """A bootstrap 95% interval of mean(times) / mean(references), both resampled over seeds."""
    rng = np.random.default_rng(seed)
    t, r = np.asarray(times), np.asarray(references)
    ratios = rng.choice(t, (4000, len(t))).mean(1) / rng.choice(r, (4000, len(r))).mean(1)
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


def time_to(rs: list[dict], target: float, budget: float) -> list[float]:
    return [budget if (t := reached(r["points"], target)) is None else t for r in rs]


def targets(runs: dict, workers: int, budget: float) -> list[str]:
    of = {m: [r for k, r in runs.items() if k[0] == m and k[1] == workers] for m in order([*METHODS, *PEERS, *(k[0] for k in runs)])}
    out = []
    if of["random"] and of["tpe"] and all(r["at200"] is not None for r in of["random"]):
        t200s = [r["at200"] for r in of["random"]]
        t200, hv200 = np.mean(t200s), np.mean([at(r["points"], r["at200"]) for r in of["random"]])
        tpe = time_to(of["tpe"], hv200, budget)
        m, h = mean_ci(tpe)
        low, high = ratio_ci(tpe, t200s)
        out.append(f"target 1: random search's 200-trial hypervolume {hv200:.4f} comes at {t200 / 3600:.2f} h; TPE "
                   f"reaches it at {m / 3600:.2f} ± {h / 3600:.2f} h = {m / t200:.2f} of that time (95% CI {low:.2f} "
                   f"to {high:.2f}; target ≤ 0.5): {'met' if m / t200 <= 0.5 else 'not met'}")
    multi = [m for m, rs in of.items() if rs and m not in PEERS and overrides(m)[1] != "scheduler=none"]
    if of["tpe"] and multi:
        finals = [at(r["points"], budget) for r in of["tpe"]]
        hv_full = np.mean(finals)
        t_full = np.mean([reached(r["points"], final) for r, final in zip(of["tpe"], finals)])  # when TPE got there
        scores = {m: mean_ci(time_to(of[m], hv_full, budget)) for m in multi}
        final = {m: np.mean([at(r["points"], budget) for r in of[m]]) for m in multi}
        best = min(scores, key=lambda m: (scores[m][0], -final[m]))  # none reaching it: the closest at the end
        m, h = scores[best]
        out.append(f"target 2: full-budget TPE's final hypervolume {hv_full:.4f} comes at {t_full / 3600:.2f} h; the "
                   f"best multi-fidelity method, {best}, reaches it at {m / 3600:.2f} ± {h / 3600:.2f} h = "
                   f"{m / t_full:.2f} of that time (target ≤ 1/3): {'met' if m / t_full <= 1 / 3 else 'not met'}"
                   + f" (reached in {sum(reached(r['points'], hv_full) is not None for r in of[best])}/{len(of[best])} seeds)")
    screens = [m for m, rs in of.items() if rs and "screen" in m]
    if of["tpe"] and screens:
        tpe = [r for r in of["tpe"]]
        t_tpe = [reached(r["points"], at(r["points"], budget)) for r in tpe]  # when each seed reached its final
        hv_full = np.mean([at(r["points"], budget) for r in tpe])
        t_full = np.mean(t_tpe)
        for m in screens:
            times = time_to(of[m], hv_full, budget)
            mean, half = mean_ci(times)
            low, high = ratio_ci(times, t_tpe)
            cost = np.mean([r.get("proxy_seconds", 0.0) for r in of[m]])
            out.append(f"target 4: unscreened TPE's final hypervolume {hv_full:.4f} comes at {t_full / 3600:.2f} h; "
                       f"{m} reaches it at {mean / 3600:.2f} ± {half / 3600:.2f} h = {mean / t_full:.2f} of that time "
                       f"(95% CI {low:.2f} to {high:.2f}; target ≤ 2/3; {cost / 3600:.3f} h of proxies counted; "
                       f"reached in {sum(reached(r['points'], hv_full) is not None for r in of[m])}/{len(of[m])} "
                       f"seeds): {'met' if mean / t_full <= 2 / 3 else 'not met'}")
    for name in PEERS:
        if not of[name]:
            continue
        for f in (1 / 3, 1.0):
            theirs = mean_ci([at(r["points"], f * budget) for r in of[name]])
            mine = {m: mean_ci([at(r["points"], f * budget) for r in rs]) for m, rs in of.items() if rs and m not in PEERS}
            top = max(mine, key=lambda m: mine[m][0])
            for label, m in ((f"the same algorithm and rungs ({MATCH})", MATCH), (f"the best ({top})", top)):
                if m in mine:
                    level = mine[m][0] + mine[m][1] >= theirs[0] - theirs[1]  # intervals overlap, or ours above
                    out.append(f"target 3 at {f:.2g} of the horizon: ours, {label}, {fmt(*mine[m])}; {name} "
                               f"{fmt(*theirs)}; ours at least level: {'yes' if level else 'no'}")
    return out


def plot(runs: dict, args: argparse.Namespace, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = world(args)
    best = true_hypervolume(table, OBJECTIVES, args.noise)
    counts = sorted({k[1] for k in runs})
    fig, axes = plt.subplots(1, len(counts), figsize=(6.5 * len(counts), 4.5), squeeze=False)
    for ax, workers in zip(axes[0], counts):
        budget = horizon(table, workers, args.noise)
        grid = np.linspace(0, budget, 200)
        for m in order(k[0] for k in runs):
            rs = [r for k, r in runs.items() if k[0] == m and k[1] == workers]
            if not rs:
                continue
            regret = best - np.array([[at(r["points"], t) for t in grid] for r in rs])
            mean = regret.mean(0)
            half = stats.t.ppf(0.975, max(1, len(rs) - 1)) * regret.std(0, ddof=1) / math.sqrt(len(rs)) if len(rs) > 1 else 0
            floor = 1e-4 * best  # a regret of 0 (the whole true front found) drawn at the floor
            ax.plot(grid / 3600, np.maximum(mean, floor), label=f"{m} ({len(rs)})",
                    linestyle="--" if m in PEERS else "-")
            ax.fill_between(grid / 3600, np.maximum(mean - half, floor), np.maximum(mean + half, floor), alpha=0.12)
        ax.set_yscale("log")
        ax.set_xlabel("simulated hours")
        ax.set_ylabel("regret: expected front − the study's front at expected values" if args.noise
                      else "regret: true hypervolume − the full-budget front's")
        ax.set_title(f"{workers} worker(s): mean and 95% CI over seeds")
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def simulate(work, jobs: list, args: argparse.Namespace, done: dict) -> None:
    """Each job through ``work`` in ``args.jobs`` processes; every study's row is appended to ``args.results``
    (and put in ``done``) as it ends, so a stopped run goes on where it was."""
    if not jobs:
        return
    print(f"{len(jobs)} studies to simulate ({len(done)} already in {args.results})", file=sys.stderr)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for i, row in enumerate(pool.imap_unordered(work, jobs), 1):
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
            done[(row["method"], row["workers"], row["seed"])] = row
            print(f"[{i}/{len(jobs)}] {row['method']} × {row['workers']} seed {row['seed']}: final HV "
                  f"{row['points'][-1][1]:.4f} ({row['real_seconds']:.1f} s)", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="dense_grid", help="a shipped table's name or a table file")
    parser.add_argument("--surrogate", default=None,
                        help="a surrogate file of the table's space: the studies run on it (evaluator=surrogate) and are "
                             "measured against its expected runs of every genotype")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--methods", nargs="+", default=[*(m for m in METHODS if m != "gp"), MATCH, *PEERS],
                        type=method_name,
                        help="methods and peers; a scheduled method may carry scheduler settings: tpe+asha@eta=2")
    parser.add_argument("--max-trials", type=int, default=600,
                        help="n_trials of each study (duplicates count); the horizon ends it first")
    parser.add_argument("--jobs", type=int, default=2, help="studies simulated at once (processes)")
    parser.add_argument("--noise", action=argparse.BooleanOptionalAction, default=True,
                        help="each trial replays a run drawn at its seed (default); --no-noise: every trial the "
                             "genotype's first run, as before issue 28")
    parser.add_argument("--results", type=Path, default=None,
                        help="default: benchmarks/results/search_quality-noise.jsonl (search_quality.jsonl with --no-noise)")
    parser.add_argument("--report", action="store_true", help="only print the report (and plot) of the results file")
    parser.add_argument("--plot", type=Path, default=None, help="default: the results file's name with .png")
    args = parser.parse_args()
    if args.results is None:
        args.results = REPO / "benchmarks" / "results" / ("search_quality-noise.jsonl" if args.noise else "search_quality.jsonl")
    methods = list(args.methods)
    if set(PEERS) & set(methods) and not args.report:
        try:
            import syne_tune  # noqa: F401
        except ImportError:
            print("syne-tune is not installed (pip install -e \".[peers]\"); running without the peers", file=sys.stderr)
            methods = [m for m in methods if m not in PEERS]
    done = finished(args)
    jobs = [(m, w, s, args) for s in range(args.seeds) for w in args.workers for m in methods
            if (m, w, s) not in done]
    if not args.report:
        simulate(one, jobs, args, done)
    runs = {k: r for k, r in done.items() if k[0] in args.methods and k[1] in args.workers and k[2] < args.seeds}
    if not runs:
        sys.exit(f"{args.results}: no studies of these methods, workers and settings yet")
    print("\n".join(report(runs, args)))
    picture = args.plot or args.results.with_suffix(".png")
    plot(runs, args, picture)
    print(f"\nplot: {picture}")


if __name__ == "__main__":
    main()
