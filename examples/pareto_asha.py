"""Multi-objective ASHA in a plain Optuna study: two worker processes share a journal file.

Each trial "trains" a toy model for up to 9 epochs; its accuracy climbs towards a ceiling set by
its width, and a wider model costs more. After each epoch the trial reports both objectives to
``ParetoASHA``, which ranks it, at epochs 1 and 3, against every trial that reached the same rung
(in either process) and stops it unless it is in the first third by Pareto rank.

    python examples/pareto_asha.py --journal /tmp/asha.log --trials 60 --workers 2
"""

from __future__ import annotations

import argparse
import math
import multiprocessing

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from nas.scheduling import ASHA
from nas.scheduling.pareto_asha import ParetoASHA

EPOCHS = 9
asha = ParetoASHA(ASHA(eta=3, min_epochs=1, max_epochs=EPOCHS))


def objective(trial: optuna.Trial) -> tuple[float, float]:
    width = trial.suggest_int("width", 4, 64)
    depth = trial.suggest_int("depth", 1, 8)
    ceiling = 1 - 1 / math.sqrt(width * depth)  # bigger models can reach more
    cost = float(width * width * depth)
    for epoch in range(1, EPOCHS + 1):
        accuracy = ceiling * (1 - 0.6 ** epoch)  # an epoch of "training"
        if not asha.report(trial, epoch, [accuracy, cost]):
            raise optuna.TrialPruned()
    return accuracy, cost


def work(journal: str, trials: int, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(journal))
    existing = len(optuna.load_study(study_name="pareto_asha", storage=storage).trials)  # a rerun draws anew
    study = optuna.load_study(study_name="pareto_asha", storage=storage,
                              sampler=optuna.samplers.RandomSampler(seed=seed + 1000 * existing))
    study.optimize(objective, n_trials=trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journal", required=True)
    parser.add_argument("--trials", type=int, default=60, help="trials per worker")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(args.journal))
    study = optuna.create_study(study_name="pareto_asha", storage=storage, directions=["maximize", "minimize"],
                                load_if_exists=True)
    workers = [multiprocessing.get_context("spawn").Process(target=work, args=(args.journal, args.trials, seed))
               for seed in range(args.workers)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    states = [t.state for t in study.get_trials()]
    print(f"{states.count(optuna.trial.TrialState.COMPLETE)} complete, "
          f"{states.count(optuna.trial.TrialState.PRUNED)} stopped at a rung, "
          f"{len(study.best_trials)} on the front")


if __name__ == "__main__":
    main()
