"""What the multi-worker bookkeeping costs per trial, next to plain Optuna ask/tell.

    python benchmarks/study_overhead.py [--trials 200] [--rounds 20] [--postgres-url URL]

For each storage, a study is filled with ``--trials`` finished trials carrying the
attributes a real search stores (genotype, per-epoch history, metrics, heat maps). Then two
ways of running one more (untrained) trial alternate, on the same storage:

- plain: ``ask`` → set the attributes → ``tell`` — what a single Optuna loop costs;
- nas: what ``nas.search`` adds around it for several workers — stale-trial check,
  counting the budget, the slot check, the duplicate claim, a heartbeat.

It prints milliseconds per trial and the ratio. Against a trial that trains for a
minute, either is noise; the figure shows how the cost grows with the study.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import optuna
from omegaconf import OmegaConf
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from nas.genotype.presets import PRESETS
from nas.models import build_model
from nas.study.record import RECORD, Status, TrialRecord
from nas.study.slots import claimed, counted, fits
from nas.study.storage import Heartbeat, fail_stale_trials, open_storage
from nas.training.heatmap import connection_strengths

DIST = {"x": IntDistribution(0, 10**6)}
GENOTYPE = PRESETS["densenet_bc100_k12"]
HISTORY = [{"epoch": e, "train_loss": 1.0, "val_loss": 1.0, "val_accuracy": 0.5, "lr": 0.1} for e in range(10)]
HEATMAPS = [m.to_dict() for m in connection_strengths(build_model(GENOTYPE))]  # 3 maps of 18 × 17


def _record(i: int) -> TrialRecord:
    return TrialRecord(Status.OK, genotype=GENOTYPE.to_dict(), genotype_id=f"{i:012x}", genotype_name=GENOTYPE.name,
                       metrics={"params": 769162, "macs": 287929692, "val_accuracy": 0.5}, history=HISTORY,
                       heatmaps=HEATMAPS, worker="0@bench")


def _fill(study: optuna.Study, n: int) -> None:
    for i in range(n):
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, values=[0.5], params={"x": i},
                                                  distributions=DIST, user_attrs={RECORD: _record(i).stored()}))


def _plain(study: optuna.Study, storage, i: int, budget: int) -> None:
    """Optuna alone: ask, store what a trial learns (one attribute per field), tell."""
    trial = study.ask(DIST)
    for k, v in _record(i).stored().items():
        trial.set_user_attr(k, v)
    study.tell(trial, [0.5])


def _nas(study: optuna.Study, storage, i: int, budget: int) -> None:
    """What a search worker adds: the stale check, counting, the budget slot, the heartbeat, the
    duplicate claim — and the record's three writes."""
    fail_stale_trials(study, storage, grace_period=60)
    counted(study.get_trials(deepcopy=False))
    trial = study.ask(DIST)
    fits(study.get_trials(deepcopy=False), trial.number, budget)
    with Heartbeat(storage, trial._trial_id, 10):
        record = TrialRecord(Status.RUNNING, worker="0@bench")
        record.save(trial)
        done = _record(i)
        record.genotype, record.genotype_id, record.status = done.genotype, done.genotype_id, Status.TRAINING
        claimed(study.get_trials(deepcopy=False), trial.number, record.genotype_id)
        record.save(trial)
        done.save(trial)
    study.tell(trial, [0.5])


def measure(name: str, cfg: dict, n: int, rounds: int) -> tuple[float, float]:
    storage = open_storage(OmegaConf.create({"heartbeat_interval": 10, "grace_period": 60, "max_retry": 3, **cfg}))
    study = optuna.create_study(storage=storage, study_name=f"bench-{time.time_ns()}")
    _fill(study, n)
    times: dict[str, list[float]] = {"plain": [], "nas": []}
    for r in range(rounds + 1):
        for label, step in (("plain", _plain), ("nas", _nas))[:: 1 if r % 2 else -1]:  # alternate the order
            start = time.perf_counter()
            step(study, storage, n + 2 * r + (label == "nas"), budget=10**6)
            if r:  # round 0 warms up
                times[label].append(1000 * (time.perf_counter() - start))
    return statistics.median(times["plain"]), statistics.median(times["nas"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200, help="finished trials already in the study")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--postgres-url", help="also measure a PostgreSQL database (postgresql://…)")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        storages = {"sqlite": {"name": "sqlite", "url": f"sqlite:///{Path(tmp) / 'study.db'}"},
                    "journal": {"name": "journal", "path": str(Path(tmp) / "journal.log")}}
        if args.postgres_url:
            storages["postgres"] = {"name": "postgres", "url": args.postgres_url}
        print(f"{args.trials} finished trials in the study, median of {args.rounds} trials each")
        print(f"{'storage':10s} {'plain ms/trial':>15s} {'nas ms/trial':>13s} {'nas / plain':>12s}")
        for name, cfg in storages.items():
            plain, nas = measure(name, cfg, args.trials, args.rounds)
            print(f"{name:10s} {plain:15.1f} {nas:13.1f} {nas / plain:11.2f}x")


if __name__ == "__main__":
    main()
