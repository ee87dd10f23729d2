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

from nas.genotype import Genotype, GenotypeError
from nas.scheduling import chance_rule
from nas.study.clock import Clock
from nas.study.record import Status, TrialRecord
from nas.study.rungs import RungJudge
from nas.tabular.noise import SeedNoise, draw
from nas.tabular.table import Run, Table

MEASURED = ("val_accuracy", "val_loss", "params", "macs", "images_per_second", "latency_batch1_ms")  # objectives


class Replay:
    def __init__(self, table: Table, clock: Clock, noise: bool = True) -> None:
        self.table, self.clock = table, clock
        self.noise = SeedNoise.of(table) if noise else None
        setup = table.setup
        batch = setup["train"]["batch_size"]
        self.epoch_images = max(1, setup["train_size"] // batch) * batch  # the trainer drops the last batch
        self.chance = chance_rule(setup["classes"], setup["val_size"]) if setup["train"]["stop_at_chance"] else None

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

    def train(self, number: int, genotype: Genotype, seed: int, record: TrialRecord, judge: RungJudge | None) -> None:
        run = self.run_of(genotype, seed)
        rules = [r for r in (self.chance, judge) if r is not None]
        self.clock.sleep(run.overhead)
        last = self.table.epochs
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
                              batch_size=self.table.setup["train"]["batch_size"], train_seconds=seconds,
                              wall_seconds=seconds + sum(h["judge_seconds"] for h in history))
        if history:
            end = history[-1]
            record.metrics.update(val_accuracy=end["val_accuracy"], val_loss=end["val_loss"],
                                  train_loss=end["train_loss"],
                                  images_per_second=self.epoch_images * len(history) / max(seconds, 1e-9))
        if status == Status.OK and run.latency_batch1_ms is not None:
            record.metrics["latency_batch1_ms"] = run.latency_batch1_ms
