"""The evaluator of ``evaluator=table``: a trial's training replayed from the table, epoch by epoch.

A trial gets the run a real trial at its seed might have given (:func:`nas.tabular.noise.draw`):
one of the genotype's recorded runs, chosen by the seed, or its one run moved by a deviation drawn
from the table's seed noise; with ``noise`` off, always the first run.
Each epoch lets the clock run for the seconds it took when the table was built (training,
then judging and validating), and then passes the epoch's recorded validation result through
the same rules a trained run meets: the chance guard and the scheduler's rung judge. A run the
rules stop ends there, as a trained one would; the others end as their table run did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from nas.evaluators.clock import Clock, SimulatedClock
from nas.genotype import Genotype, GenotypeError
from nas.scheduling import chance_rule
from nas.scheduling.rules import RungRule
from nas.study.record import Status, TrialRecord
from nas.study.search_settings import SearchSettings
from nas.tabular.noise import SeedNoise, draw
from nas.tabular.table_file import Run, Table

MEASURED = ("val_accuracy", "val_loss", "params", "macs", "images_per_second", "latency_batch1_ms")  # objectives


@dataclass(frozen=True)
class TableSettings:
    """The ``evaluator=table`` group."""

    name: str = "table"
    table: str = "dense_grid"  # a table in nas/tabular/tables/, or the path of a table file
    workers: int = 1  # simulated asynchronous workers sharing the study
    noise: bool = True  # a trial replays a run drawn at its seed; false: every trial the genotype's first run

    def __post_init__(self) -> None:
        check_simulation(self.workers, self.noise)


def check_simulation(workers: Any, noise: Any) -> None:
    """The settings every simulated evaluator shares: ``evaluator.workers`` and ``evaluator.noise``."""
    if not isinstance(noise, bool):
        raise ValueError(f"evaluator.noise={noise!r}: true (each trial replays a run drawn at "
                         "its seed) or false (every trial replays its genotype's reference run)")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"evaluator.workers={workers!r}: the number of simulated workers, a whole number ≥ 1")


class Replay:
    """Replays every trial from the table, on a simulated clock that its simulated workers share."""

    name: ClassVar[str] = "table"
    Settings: ClassVar[type] = TableSettings
    simulated: ClassVar[bool] = True

    @classmethod
    def open(cls, settings: SearchSettings, out_dir: Path, log: Callable[[str], Any]) -> Replay:
        table = Table.load(settings.evaluator.table)
        if any(r.status == Status.STOPPED.value for r in table.runs):
            raise ValueError(f"evaluator.table={settings.evaluator.table}: it holds runs a rung stopped (built with "
                             "--stopped): the data of a surrogate, not a table to replay; fit one on it "
                             "(python -m nas.table fit) and use evaluator=surrogate")
        check(settings, "table", table.space, latency=all(r.latency_batch1_ms is not None for r in table.runs),
              proxies=set().union(*table.proxies.values()) if table.proxies else set(), pairs=len(table.pairs()),
              rebuild="build a table of yours (benchmarks/table/build.sh)")
        return cls(table, SimulatedClock(), noise=settings.evaluator.noise, workers=settings.evaluator.workers)

    def __init__(self, table: Table, clock: Clock, noise: bool = True, workers: int = 1) -> None:
        self.table = table
        self._start(table.setup, clock, SeedNoise.of(table) if noise else None, workers)

    def _start(self, setup: dict[str, Any], clock: Clock, noise: SeedNoise | None, workers: int) -> None:
        """What every replay keeps: the setup its runs were trained under, the clock, the seed noise."""
        self._setup, self.clock, self.noise, self.workers = setup, clock, noise, workers
        batch = setup["train"]["batch_size"]
        self.epoch_images = max(1, setup["train_size"] // batch) * batch  # the trainer drops the last batch
        self.chance = chance_rule(setup["classes"], setup["val_size"]) if setup["train"]["stop_at_chance"] else None

    @property
    def epochs(self) -> int:
        """The full budget its runs were trained for (a scheduler's rungs fall below it)."""
        return int(self._setup["train"]["epochs"])

    def setup(self) -> dict[str, Any]:
        return dict(self._setup)

    def describe(self, settings: SearchSettings) -> str:
        """What a replayed study is, said once when it starts."""
        table = self.table
        return (f"evaluator=table: {settings.n_trials} trials replayed from a table of {len(table.genotypes)} genotypes "
                f"({table.epochs} epochs of {table.setup['train_size']:,} images at "
                f"{'×'.join(map(str, table.setup['image_size']))}, train.protocol={table.setup['train']['protocol']}) "
                f"by {self.workers} simulated worker(s), each trial "
                + ("a run drawn at its seed (evaluator.noise)" if self.noise is not None else "its genotype's first run")
                + "; the data and train settings are the table's")

    def runs_of(self, genotype: Genotype) -> list[Run]:
        runs = self.table.runs_of(genotype.id)
        if not runs:
            raise GenotypeError(f"{genotype.name} is not in the table (it has {len(self.table.genotypes)} genotypes "
                                f"of search_space={self.table.space['name']})")
        return runs

    def run_of(self, genotype: Genotype, seed: int) -> Run:
        """The run a trial of ``genotype`` at ``seed`` replays (the same every time it is asked)."""
        return draw(self.runs_of(genotype), self.noise, seed, genotype.id)

    def size(self, genotype: Genotype) -> tuple[int, int]:
        run = self.runs_of(genotype)[0]  # every run of a genotype has its size
        return run.n_params, run.macs

    def latencies(self, genotype: Genotype, seed: int, names: list[str], record: TrialRecord) -> bool:
        run = self.run_of(genotype, seed)
        record.metrics.update({n: run.latency_batch1_ms for n in names})  # the only latency a table holds
        return True

    def proxies(self, genotype: Genotype, seed: int, names: tuple[str, ...]) -> dict[str, dict]:
        """The table's scores (one initialisation per genotype, whatever ``seed``), their seconds passing on the clock."""
        scores = self.table.proxies.get(genotype.id, {})
        missing = {"value": None, "seconds": 0.0, "reason": "not in the table's proxy scores"}
        out = {n: dict(scores.get(n, missing)) for n in names}
        self.clock.sleep(sum(p["seconds"] for p in out.values()))
        return out

    def train(self, number: int, genotype: Genotype, seed: int, record: TrialRecord, judge: RungRule | None) -> None:
        run = self.run_of(genotype, seed)
        rules = [r for r in (self.chance, judge) if r is not None]
        self.clock.sleep(run.overhead)
        last = self.epochs
        status, reason = Status(run.status), run.reason
        for e in range(1, len(run.epochs) + 1):
            entry = run.epoch(e)
            self.clock.sleep(entry["seconds"] + entry["judge_seconds"])
            record.history.append({"epoch": e, **entry, "images_per_second": self.epoch_images / entry["seconds"]})
            stop = next(filter(None, (rule(e, record.history[-1]) for rule in rules)), None) if e < last else None
            if stop is not None:
                status, reason = (Status.CHANCE if stop.hopeless else Status.STOPPED), stop.reason
                break
        record.status, record.reason = status, reason
        history = record.history
        seconds = sum(h["seconds"] for h in history)
        record.metrics.update(params=run.n_params, macs=run.macs, epochs=len(history),
                              batch_size=self._setup["train"]["batch_size"], train_seconds=seconds,
                              wall_seconds=seconds + sum(h["judge_seconds"] for h in history))
        if history:
            end = history[-1]
            record.metrics.update(val_accuracy=end["val_accuracy"], val_loss=end["val_loss"],
                                  train_loss=end["train_loss"],
                                  images_per_second=self.epoch_images * len(history) / max(seconds, 1e-9))
        if status == Status.OK and run.latency_batch1_ms is not None:
            record.metrics["latency_batch1_ms"] = run.latency_batch1_ms


def check(settings: SearchSettings, name: str, space: dict[str, Any], *, latency: bool, proxies: set[str],
          pairs: int, rebuild: str) -> None:
    """Refuse, in one line, a study that ``evaluator=name`` cannot replay: its runs cover the search space
    settings ``space``, have a latency or not, the zero-cost ``proxies`` and ``pairs`` genotypes trained twice;
    ``rebuild`` says how to make one that covers another space."""
    asked = dict(settings.search_space)
    if asked != space:
        key = "name" if asked.get("name") != space.get("name") else \
            next(k for k in sorted(set(asked) | set(space)) if asked.get(k) != space.get(k))
        raise ValueError(f"evaluator={name}: it covers search_space={space['name']} with "
                         f"search_space.{key}={space.get(key)!r}, not {asked.get(key)!r}; search that space "
                         f"(search_space={space['name']} with its defaults) or {rebuild}")
    missing = [o for o in settings.objectives if o not in MEASURED or (o == "latency_batch1_ms" and not latency)]
    if missing:
        raise ValueError(f"evaluator={name}: it has no {missing[0]}; choose objectives among "
                         f"{', '.join(m for m in MEASURED if m not in missing)}")
    if settings.prune_threshold is not None:
        raise ValueError(f"evaluator={name}: prune_threshold needs the connection strengths of trained weights, "
                         "which a replay does not have; leave prune_threshold null")
    absent = [p for p in settings.screen.by if p not in proxies]
    if absent:
        raise ValueError(f"evaluator={name}: screen={settings.screen.name} ranks by {absent[0]}, which it has no "
                         f"scores of ({', '.join(sorted(proxies)) or 'none'}); rank by those, or use screen=size")
    if settings.evaluator.noise and pairs < 3:
        raise ValueError(f"evaluator.noise=true: evaluator={name} has {pairs} genotypes trained twice, and its seed "
                         "noise is fitted on at least 3; set evaluator.noise=false, or train a replica study for its data")
    workers = settings.evaluator.workers
    if workers > settings.n_trials:  # each simulated worker is a thread: beyond n_trials they only cost
        raise ValueError(f"evaluator.workers={workers}: more simulated workers than n_trials={settings.n_trials} "
                         "would have trials to run; use at most n_trials")
