"""Queue a second training seed for completed trials of one study in another study.

The surrogate's noise model is checked against genotypes trained twice. This copies the
parameters of ``--n`` completed trials of the source study, drawn with ``--seed``, into a
replica study as queued trials; ``python -m nas.search`` on the replica (with its own ``seed``,
so every trial trains at another seed) then trains them first. Run it again and it queues
nothing twice; a larger ``--n`` tops the replicas up.

    python benchmarks/surrogate/replicate.py SRC.journal SRC_STUDY DST.journal DST_STUDY --n 48
"""
from __future__ import annotations

import argparse
import random

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from nas.pareto.objectives import directions
from nas.study.record import RECORD

SOURCE = "replica_of"  # the user attribute naming the source trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("source_study")
    parser.add_argument("replica")
    parser.add_argument("replica_study")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    src = optuna.load_study(study_name=args.source_study, storage=JournalStorage(JournalFileBackend(args.source)))
    done = [t for t in src.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
            if RECORD in t.user_attrs]
    objectives = src.user_attrs["objectives"]
    dst = optuna.create_study(storage=JournalStorage(JournalFileBackend(args.replica)),
                              study_name=args.replica_study, load_if_exists=True,
                              directions=directions(objectives))
    queued = {t.user_attrs[SOURCE] for t in dst.get_trials(deepcopy=False) if SOURCE in t.user_attrs}
    by_number = {t.number: t for t in done if t.number not in queued}  # tops the replicas up to --n
    if len(by_number) < args.n - len(queued):
        raise SystemExit(f"{args.source_study} has {len(by_number)} completed trials not yet replicated, fewer than "
                         f"the {args.n - len(queued)} that --n {args.n} needs: let it run longer")
    new = sorted(random.Random(args.seed).sample(sorted(by_number), max(0, args.n - len(queued))))
    for n in new:
        dst.enqueue_trial(by_number[n].params, user_attrs={SOURCE: n})
    print(f"{len(new)} trials of {args.source_study} queued in {args.replica_study} "
          f"({len(queued)} were queued before)")


if __name__ == "__main__":
    main()
