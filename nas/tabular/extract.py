"""A table from the studies that trained it (``benchmarks/table/build.sh``): one run per trained trial.

Every run's parameters are checked to rebuild its recorded genotype in the table's space, and
every study to have been trained under one setup, so a table never mixes budgets or spaces.
"""

from __future__ import annotations

import json
import platform
from typing import Any

import optuna

import search_spaces
from nas.section import Section
from nas.study.record import Status, TrialRecord, study_setup
from nas.tabular.table_file import Run, Table
from nas.training.data import DataError, folder_digest


def from_studies(studies: list[optuna.Study], space: dict[str, Any], build: dict[str, Any], *, first: int = 1,
                 stopped: bool = False) -> Table:
    """The table of ``studies`` over the search space settings ``space``; ``build`` says how it was made.
    The ``first`` studies draw the genotypes (a genotype two of them drew has its later run as a replica);
    the rest are replicas, repeating genotypes the first ones trained. With ``stopped``, runs a rung
    stopped are kept as far as they trained (a surrogate learns from every epoch trained)."""
    setups = [study_setup(s) for s in studies]
    if any(setup != setups[0] for setup in setups[1:]) or setups[0] is None:
        raise ValueError(f"studies {', '.join(s.study_name for s in studies)} were not run on one recorded setup "
                         "(data, split, training budget); a table needs one")
    module, cfg = search_spaces.get(space["name"]), Section.of(space)
    runs, seconds, seen, count = [], 0.0, set(), {}
    for place, study in enumerate(studies):
        for t in study.get_trials(deepcopy=False):
            record = TrialRecord.of(t)
            if not record.status.trained or t.state == optuna.trial.TrialState.RUNNING or \
                    (record.status == Status.STOPPED and not stopped):
                continue
            try:
                made = search_spaces.genotype_from_params(module, cfg, t.params).id
            except ValueError as e:
                made = f"nothing ({e})"
            if made != record.genotype_id:
                raise ValueError(f"{study.study_name} trial {t.number}: its parameters do not make its genotype in "
                                 f"search_space={space['name']} with these settings (they make {made}); pass --space "
                                 "the settings the studies ran")
            if (place, record.genotype_id) in seen:
                raise ValueError(f"{study.study_name} trial {t.number}: a second run of {record.genotype_name} in one "
                                 "study; a table keeps one run per genotype and study")
            seen.add((place, record.genotype_id))
            replica = count.get(record.genotype_id, 0)  # the runs of it before this one
            if place >= first and replica == 0:
                raise ValueError(f"{record.genotype_name} has a replica but no run in the first "
                                 f"{'study' if first == 1 else f'{first} studies'}; finish those first")
            count[record.genotype_id] = replica + 1
            try:
                epochs = tuple((h["val_accuracy"], h["val_loss"], h["train_loss"], *_one_core(h))
                               for h in record.history)
            except KeyError as e:
                raise ValueError(f"{study.study_name} trial {t.number}: its epochs have no {e.args[0]} (trained by an "
                                 "older version); train the study again") from None
            overhead = max(0.0, (record.trial_seconds or 0.0) - sum(h["seconds"] + h["judge_seconds"]
                                                                    for h in record.history))
            seconds += overhead + sum(e[3] + e[4] for e in epochs)
            runs.append(Run(record.genotype_id, record.genotype_name, dict(t.params), replica, t.number,
                            record.status.value, record.reason, int(record.metrics["params"]),
                            int(record.metrics["macs"]), record.metrics.get("latency_batch1_ms"),
                            overhead, epochs))
    recorded = (TrialRecord.of(t).environment for s in studies for t in s.get_trials(deepcopy=False))
    environments = sorted({json.dumps(e, sort_keys=True) for e in recorded if e})
    return Table(dict(space), portable(setups[0]),
                 {**build, "cpu_seconds": round(seconds, 1), "machine": platform.processor() or platform.machine(),
                  "environments": [json.loads(e) for e in environments]}, tuple(runs))


def portable(setup: dict[str, Any]) -> dict[str, Any]:
    """A study's setup with its data named by what it holds, not where it lay on the machine that
    built the table: the folder's path is replaced by its split and a digest of its files."""
    out = {k: v for k, v in setup.items() if k != "root"}
    if setup.get("data") == "folder" and "root" in setup:
        try:
            out.update(split="train", files=folder_digest(setup["root"]))
        except DataError as e:
            raise ValueError(f"the studies' data folder is not readable here ({e}); build the table where they "
                             "were trained") from None
    return out


def _one_core(entry: dict[str, float]) -> tuple[float, float]:
    """An epoch's training and judging seconds on one uncontended core: its CPU time, split in the
    proportion of the wall times. A build shares its cores with other work now and then; the wall
    clock counts those stretches, the process's CPU time does not (each trial trains on one thread)."""
    wall = entry["seconds"] + entry["judge_seconds"]
    cpu = entry["cpu_seconds"]
    return cpu * entry["seconds"] / wall, cpu * entry["judge_seconds"] / wall
