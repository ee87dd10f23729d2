"""Which method finds the front of the users' space fastest? Simulated studies on its surrogate.

``search_quality.py`` compares methods on the table, where every genotype is known and the true
front too. The main command searches ``dense_connectivity``, billions of genotypes: here every
method searches it through ``python -m nas.search``'s own study loop with ``evaluator=surrogate``
(1, 4 or 16 simulated workers, the caps the surrogate's data was trained under), each trial's run
the surrogate's expected run moved by seed noise drawn at its seed. No true front is known, so the
yardstick is full-budget TPE's:

- the horizon, per worker count, is the mean simulated time 200 full-budget TPE trials take
  (``tpe`` runs first, with ``n_trials=200``); every other method gets that time;
- a study is measured by the genotypes on its front, taken at their expected values (the
  surrogate's prediction without noise), as ``search_quality.py`` measures against the table;
- targets: the time each method needs to reach TPE's 200-trial hypervolume (mean over seeds),
  as a share of TPE's time, and the time TPE needs to reach random search's 200-trial hypervolume,
  as a share of random's, with bootstrap intervals; and what 200 trials buy: the best expected
  accuracy found at or below DenseNet-BC-40's and BC-100's parameters, beside those two.

Every study appends one line to ``--results`` and is not run again: stopped, it goes on.

    python benchmarks/surrogate_quality.py --surrogate dense_connectivity     # 30 seeds × methods × 1, 4, 16 workers
    python benchmarks/surrogate_quality.py --report
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np
import optuna
from hydra import compose, initialize_config_dir
from search_quality import (
    CONF,
    FRACTIONS,
    OBJECTIVES,
    PEER,
    at,
    fmt,
    mean_ci,
    method_name,
    moasha,
    order,
    overrides,
    ratio_ci,
    reached,
    simulate,
)

from nas.genotype.presets import PRESETS
from nas.runtime import startup
from nas.settings import parse_search
from nas.study.record import Status, TrialRecord
from nas.study.slots import counted
from nas.tabular.noise import draw
from nas.tabular.quality import found_in
from nas.tabular.surrogate_model import Surrogate
from nas.tabular.table_file import Run
from nas.workers.simulate import run

REPO = Path(__file__).resolve().parents[1]
REFERENCE = "tpe"  # 200 full-budget trials of it set the horizon and the target
TRIALS = 200
BASELINES = ("densenet_bc40_k12", "densenet_bc100_k12")


@functools.lru_cache(maxsize=None)
def surrogate_of(spec: str) -> Surrogate:
    return Surrogate.load(spec)


class Truth(dict):
    """Genotype id → its expected run on the surrogate, made when first asked (from the trial's parameters)."""

    def __init__(self, surrogate: Surrogate, params: dict[str, dict]) -> None:
        super().__init__()
        self.surrogate, self.params = surrogate, params

    def __missing__(self, genotype_id: str):
        self[genotype_id] = run = self.surrogate.expected(self.surrogate.genotype(self.params[genotype_id]))
        return run


def study_settings(method: str, workers: int, seed: int, args: argparse.Namespace, timeout: float | None):
    s = surrogate_of(args.surrogate)
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=[
            *overrides(method), f"search_space={s.space['name']}", "evaluator=surrogate",
            f"evaluator.surrogate={args.surrogate}", f"evaluator.workers={workers}", f"seed={seed}",
            f"n_trials={TRIALS if timeout is None else args.max_trials}",
            f"timeout={'null' if timeout is None else timeout}", f"max_params={args.max_params}",
            f"max_macs={args.max_macs}", "logger=none", "enqueue_baselines=false", "study_name=quality",
            f"objectives=[{','.join(OBJECTIVES)}]", f"evaluator.noise={args.noise}"])
    return parse_search(cfg)


def one(job: tuple[str, int, int, argparse.Namespace, float | None]) -> dict:
    method, workers, seed, args, horizon = job
    startup()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    began = time.perf_counter()
    if method == PEER:
        with contextlib.redirect_stdout(io.StringIO()):  # Syne Tune's tuner prints its progress
            result = peer(workers, seed, args, horizon)
        return {"method": method, "workers": workers, "seed": seed, "settings": settings(args), "horizon": horizon,
                **result, "best_at": {}, "real_seconds": round(time.perf_counter() - began, 2)}
    study, clock = run(study_settings(method, workers, seed, args, horizon), log=lambda m: None)
    trials = study.get_trials(deepcopy=False)
    records = {t.number: TrialRecord.of(t) for t in trials}
    done = sorted((t for t in trials if records[t.number].status == Status.OK), key=lambda t: records[t.number].ended)
    truth = Truth(surrogate_of(args.surrogate), {records[t.number].genotype_id: t.params for t in done})
    points, observed = found_in([(records[t.number].ended, records[t.number].genotype_id, list(t.values))
                                 for t in done], truth, OBJECTIVES)
    ends = sorted(records[t.number].ended for t in counted(trials) if records[t.number].ended is not None)
    at200 = ends[TRIALS - 1] if len(ends) >= TRIALS else None
    by_200 = [truth[records[t.number].genotype_id] for t in done if at200 is None or records[t.number].ended <= at200]
    return {"method": method, "workers": workers, "seed": seed, "settings": settings(args), "horizon": horizon,
            "points": points, "observed": observed, "at200": at200, "trials": len(ends), "end": clock.now(),
            "trained": sum(r.status.trained for r in records.values()),
            "epochs": sum(len(r.history) for r in records.values()),
            "best_at": {name: best_within(by_200, limit) for name, limit in baseline_sizes(args).items()},
            "real_seconds": round(time.perf_counter() - began, 2)}


def peer(workers: int, seed: int, args: argparse.Namespace, horizon: float) -> dict:
    """Syne Tune's MOASHA on the surrogate, through Syne Tune's own simulator (``search_quality.moasha``): a
    blackbox that answers a configuration with the surrogate's run of its genotype, drawn once per genotype at
    the study's seed (Syne Tune's simulator asks one value per configuration and epoch). MOASHA knows no size
    caps: a configuration over them is answered at once with the worst accuracy, so that its first rung stops
    it, and is not counted as found."""
    from syne_tune.blackbox_repository.blackbox import Blackbox
    from syne_tune.config_space import choice, randint

    s, caps = surrogate_of(args.surrogate), (args.max_params, args.max_macs)
    cfg, epochs, noise = s.space, s.epochs, s.noise if args.noise else None
    names = {"growth": cfg["growth"], "growth_schedule": cfg["growth_schedule"], "compression": cfg["compression"]}
    for i in range(1, cfg["blocks"] + 1):
        names |= {f"block{i}.layers": list(range(cfg["layers"][0], cfg["layers"][1] + 1, cfg["layers_step"])),
                  f"block{i}.pattern": cfg["patterns"], f"block{i}.m": list(range(cfg["m"][0], cfg["m"][1] + 1)),
                  f"block{i}.bottleneck": cfg["bottleneck"], f"block{i}.clique_bottleneck": cfg["clique_bottleneck"],
                  f"block{i}.conv": cfg["conv"]}
    space = {k: choice([str(v) for v in values]) for k, values in names.items()}  # Syne Tune's choices: no None
    typed = {k: {str(v): v for v in values} for k, values in names.items()}
    known: dict[str, tuple] = {}
    truth: dict[str, Run] = {}  # the expected runs of the genotypes it was answered about

    def answer(config: dict) -> tuple:
        key = json.dumps(config, sort_keys=True)
        if key not in known:
            genotype = s.genotype({k: typed[k][str(v)] for k, v in config.items() if k in typed})
            n_params, macs = s.size(genotype)
            if n_params > caps[0] or macs > caps[1]:
                known[key] = (None, np.array([[1.0, n_params, macs, 0.25 * e] for e in range(1, epochs + 1)]))
            else:
                truth[genotype.id] = s.run(genotype, n_params, macs)
                run_ = draw([truth[genotype.id]], noise, seed, genotype.id)
                elapsed = run_.overhead + np.cumsum([e[3] + e[4] for e in run_.epochs])
                known[key] = (genotype.id, np.array([[1 - e[0], n_params, macs, t]
                                                     for e, t in zip(run_.epochs, elapsed)]))
        return known[key]

    class Surrogate(Blackbox):
        def __init__(self) -> None:
            super().__init__(space, {"epoch": randint(1, epochs)}, ["error", "params", "macs", "elapsed_time"])

        @property
        def fidelity_values(self) -> np.ndarray:
            return np.arange(1, epochs + 1)

        def _objective_function(self, configuration, fidelity=None, seed=None):
            rows = answer(configuration)[1]
            if fidelity is None:
                return rows
            return dict(zip(self.objectives_names, rows[int(fidelity["epoch"]) - 1]))

    seen, results = moasha(Surrogate(), lambda config: answer({k: config[k] for k in space})[0], epochs, workers,
                           seed, horizon, ranked=False)
    points, observed = found_in(seen, truth, OBJECTIVES)
    return {"points": points, "observed": observed, "at200": None, "trials": len(set(results)),
            "trained": len(set(results)), "epochs": len(results), "end": horizon}


def baseline_sizes(args: argparse.Namespace) -> dict[str, int]:
    return {name: surrogate_of(args.surrogate).size(PRESETS[name])[0] for name in BASELINES}


def best_within(runs: list, limit: int) -> float | None:
    """The best expected final accuracy among ``runs`` with at most ``limit`` parameters."""
    fits = [r.final["val_accuracy"] for r in runs if r.n_params <= limit]
    return max(fits) if fits else None


def settings(args: argparse.Namespace) -> dict:
    """What a study's result depends on besides its method, workers and seed."""
    s = surrogate_of(args.surrogate)
    digest = hashlib.sha256(json.dumps(s.models, sort_keys=True).encode()).hexdigest()[:12]
    return {"surrogate": Path(args.surrogate).name, "surrogate_digest": digest, "max_trials": args.max_trials,
            "max_params": args.max_params, "max_macs": args.max_macs, "objectives": OBJECTIVES,
            "noise": args.noise}


def load(args: argparse.Namespace) -> dict[tuple[str, int, int], dict]:
    path, mine = args.results, settings(args)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return {(r["method"], r["workers"], r["seed"]): r for r in rows if r["settings"] == mine}


def horizon(done: dict, workers: int, seeds: int) -> float | None:
    """The mean simulated time of 200 full-budget TPE trials on ``workers`` workers (None until all ran)."""
    times = [done[(REFERENCE, workers, s)]["at200"] for s in range(seeds) if (REFERENCE, workers, s) in done]
    return float(np.mean(times)) if len(times) == seeds and None not in times else None


def report(done: dict, args: argparse.Namespace) -> list[str]:
    s = surrogate_of(args.surrogate)
    out = [f"surrogate {args.surrogate} of search_space={s.space['name']} ({s.build['genotypes']} trained genotypes, "
           f"{s.epochs} epochs), max_params {args.max_params:,}, max_macs {args.max_macs:,}; hypervolume of each "
           f"study's front at the surrogate's expected values; mean ± 95% CI over seeds; times in simulated hours"]
    limits = baseline_sizes(args)
    for workers in args.workers:
        budget = horizon(done, workers, args.seeds)
        if budget is None:
            continue
        of = {m: [done[(m, workers, seed)] for seed in range(args.seeds) if (m, workers, seed) in done]
              for m in order(args.methods)}
        tpe = of[REFERENCE]
        hv_tpe = float(np.mean([at(r["points"], r["at200"]) for r in tpe]))
        out += ["", f"== {workers} worker(s): horizon {budget / 3600:.2f} h (200 full-budget TPE trials); TPE's "
                    f"200-trial hypervolume {hv_tpe:.4f} =="]
        out.append(f"{'method':24s} {'seeds':>5s} " + " ".join(f"{'HV@' + format(f, '.2g') + 'H':>15s}" for f in FRACTIONS)
                   + f" {'to TPE@200 / H':>22s} {'reached':>8s}")
        for m, rs in of.items():
            if not rs:
                continue
            times = [budget if (t := reached(r["points"], hv_tpe)) is None else t for r in rs]
            low, high = ratio_ci(times, [budget] * len(times))
            out.append(f"{m:24s} {len(rs):5d} " + " ".join(f"{fmt(*mean_ci([at(r['points'], f * budget) for r in rs])):>15s}"
                                                             for f in FRACTIONS)
                       + f" {np.mean(times) / budget:8.2f} ({low:.2f}–{high:.2f}) "
                       + f"{sum(reached(r['points'], hv_tpe) is not None for r in rs):4d}/{len(rs)}")
        if of.get("random"):
            t200 = [r["at200"] for r in of["random"]]
            hv_random = float(np.mean([at(r["points"], r["at200"]) for r in of["random"]]))
            times = [budget if (t := reached(r["points"], hv_random)) is None else t for r in tpe]
            low, high = ratio_ci(times, t200)
            share = np.mean(times) / np.mean(t200)
            out.append(f"TPE reaches random search's 200-trial hypervolume {hv_random:.4f} in {share:.2f} of random's "
                       f"time (95% CI {low:.2f} to {high:.2f}; target ≤ 0.5): {'met' if share <= 0.5 else 'not met'}")
        for name, limit in limits.items():
            mine = {m: [r["best_at"][name] for r in rs if r["best_at"].get(name) is not None] for m, rs in of.items() if rs}
            out.append(f"best expected accuracy within 200 trials at ≤ {name}'s {limit:,} parameters (it: "
                       f"{s.expected(PRESETS[name]).final['val_accuracy']:.4f}): " + "; ".join(
                           f"{m} {fmt(*mean_ci(v), digits=4)}" for m, v in mine.items() if v))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", default="dense_connectivity", help="a shipped surrogate's name or a file")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--methods", nargs="+", type=method_name,
                        default=["random", "tpe", "gp", "nsga2", "tpe+asha", "tpe+hyperband", "tpe+screen=size",
                                 "tpe+screen=zero_cost", "random+asha", "random+asha@min_epochs=1", PEER])
    parser.add_argument("--max-trials", type=int, default=3000, help="n_trials beside the horizon (which ends a study first)")
    parser.add_argument("--max-params", type=int, default=None, help="default: the cap the surrogate's data was drawn under")
    parser.add_argument("--max-macs", type=int, default=None, help="default: the cap the surrogate's data was drawn under")
    parser.add_argument("--noise", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "surrogate_quality.jsonl")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    bounds = surrogate_of(args.surrogate).build["bounds"]
    args.max_params = args.max_params or bounds["params"]
    args.max_macs = args.max_macs or bounds["macs"]
    if REFERENCE not in args.methods:
        args.methods = [REFERENCE, *args.methods]
    done = load(args)
    if not args.report:  # first the reference, which sets the horizon, then every method within it
        simulate(one, [(REFERENCE, w, s, args, None) for w in args.workers for s in range(args.seeds)
                  if (REFERENCE, w, s) not in done], args, done)
        simulate(one, [(m, w, s, args, horizon(done, w, args.seeds)) for w in args.workers for s in range(args.seeds)
                  for m in args.methods if m != REFERENCE and (m, w, s) not in done], args, done)
    print("\n".join(report(done, args)))


if __name__ == "__main__":
    main()
