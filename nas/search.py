"""``python -m nas.search``: a multi-objective search over densely connected CNNs.

    python -m nas.search search_space=dense_connectivity n_trials=200

Optuna runs in-process. Every trial turns its parameters into a genotype, is
checked against the constraints *before* training (infeasible genotypes are never
trained), skips genotypes the study has already trained, trains on the data
prepared once for the whole study (or replays it: ``evaluator=table``), and stores its record
(:mod:`nas.study.record`).
``n_trials`` is the study's total, shared by every worker running the same command
on the same storage; running it again resumes. Results are written to
``runs/<study_name>/`` as trials finish; the last output line is one JSON object.
"""

from __future__ import annotations

import json
import sys

import hydra
from omegaconf import DictConfig

from nas.cli import fail_job, quiet_on_broken_pipe, run_app, sigterm_as_interrupt
from nas.runtime import startup, use_gpu
from nas.settings import parse_search
from nas.workers.run_study import run_study


@hydra.main(config_path="conf", config_name="search", version_base="1.3")
@quiet_on_broken_pipe
def _hydra_main(cfg: DictConfig) -> None:
    startup()  # again: a launcher's workers enter here, not through main()
    with sigterm_as_interrupt() as stop:
        try:
            use_gpu(cfg.gpu, cfg.device)
            settings, log = parse_search(cfg), lambda m: print(m, file=sys.stderr)
            result = run_study(settings, log=log, stop_requested=lambda: stop.requested)
        except KeyboardInterrupt:
            print("stopped: a trial left unfinished is queued again; run the same command to continue",
                  file=sys.stderr)
            sys.exit(130)
        except ValueError as e:  # DataError, GenotypeError, StorageError: bad input, said in one line
            fail_job(e)
    print(json.dumps(result))


def main() -> None:
    run_app(_hydra_main, "search", "python -m nas.search")


if __name__ == "__main__":
    main()
