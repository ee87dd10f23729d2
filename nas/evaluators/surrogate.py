"""The evaluator of ``evaluator=surrogate``: a trial's training replayed from a surrogate benchmark.

A table answers only for the genotypes it trained; the surrogate (:mod:`nas.tabular.surrogate_model`)
answers for every genotype of its space, so a study over a space of billions (``dense_connectivity``)
runs in seconds. A trial gets the genotype's expected run as the surrogate predicts it, moved by a
deviation drawn at its seed from the seed noise of the genotypes its data trained twice, and is then
replayed exactly as on a table (:class:`~nas.evaluators.replay.Replay`): the same clock, chance guard
and rung judge. Its size is counted exactly, in closed form (:mod:`nas.models.size`), so a study of
thousands of draws does not wait for meta models; a genotype its images are too small for is refused as
a trained trial's is. Of the zero-cost proxies
it scores NN-Mass, which needs nothing but the genotype, in no time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from nas.evaluators.clock import Clock, SimulatedClock
from nas.evaluators.replay import Replay, check, check_simulation
from nas.genotype import Genotype
from nas.study.search_settings import SearchSettings
from nas.tabular.surrogate_model import Surrogate
from nas.tabular.table_file import Run
from nas.training.zero_cost import NotApplicable, nn_mass

FREE = {"nn_mass": nn_mass}  # the proxies a genotype alone gives: a surrogate scores them exactly


@dataclass(frozen=True)
class SurrogateSettings:
    """The ``evaluator=surrogate`` group."""

    name: str = "surrogate"
    surrogate: str = "dense_connectivity"  # a surrogate in nas/tabular/surrogates/, or the path of a surrogate file
    workers: int = 1  # simulated asynchronous workers sharing the study
    noise: bool = True  # a trial's run is drawn at its seed; false: every trial the genotype's expected run

    def __post_init__(self) -> None:
        check_simulation(self.workers, self.noise)


class SurrogateReplay(Replay):
    """Replays every trial from the surrogate's prediction, on a simulated clock its simulated workers share."""

    name: ClassVar[str] = "surrogate"
    Settings: ClassVar[type] = SurrogateSettings
    simulated: ClassVar[bool] = True

    @classmethod
    def open(cls, settings: SearchSettings, out_dir: Path, log: Callable[[str], Any]) -> SurrogateReplay:
        surrogate = Surrogate.load(settings.evaluator.surrogate)
        check(settings, "surrogate", surrogate.space, latency="latency_batch1_ms" in surrogate.models,
              proxies=set(FREE), pairs=surrogate.noise.pairs if surrogate.noise else 0,
              rebuild="fit a surrogate of yours (python -m nas.table fit)")
        bounds = surrogate.build["bounds"]
        if not bounds["whole_space"] and any(cap is None or cap > bounds[key] for cap, key in (
                (settings.max_params, "params"), (settings.max_macs, "macs"))):
            raise ValueError(f"evaluator=surrogate: its data holds genotypes of at most {bounds['params']:,} parameters "
                             f"and {bounds['macs']:,} multiply-adds, and beyond them it would extrapolate; set "
                             f"max_params={bounds['params']} max_macs={bounds['macs']} (or lower)")
        return cls(surrogate, SimulatedClock(), noise=settings.evaluator.noise, workers=settings.evaluator.workers)

    def __init__(self, surrogate: Surrogate, clock: Clock, noise: bool = True, workers: int = 1) -> None:
        self.surrogate = surrogate
        self._start(surrogate.setup, clock, surrogate.noise if noise else None, workers)
        self._runs: dict[str, Run] = {}  # a genotype's expected run, predicted once per study
        self._sizes: dict[str, tuple[int, int]] = {}  # counted for every draw; a draw the caps refuse is never predicted

    def describe(self, settings: SearchSettings) -> str:
        s, setup = self.surrogate, self.surrogate.setup
        return (f"evaluator=surrogate: {settings.n_trials} trials replayed from a surrogate of "
                f"search_space={s.space['name']} fitted on {s.build['genotypes']} trained genotypes ({s.epochs} epochs "
                f"of {setup['train_size']:,} images at {'×'.join(map(str, setup['image_size']))}, "
                f"train.protocol={setup['train']['protocol']}) by {self.workers} simulated worker(s), each trial "
                + ("its predicted run moved by seed noise drawn at its seed (evaluator.noise)" if self.noise is not None
                   else "its genotype's predicted run") + "; the data and train settings are the surrogate's")

    def runs_of(self, genotype: Genotype) -> list[Run]:
        if genotype.id not in self._runs:
            self._runs[genotype.id] = self.surrogate.run(genotype, *self.size(genotype))
        return [self._runs[genotype.id]]

    def size(self, genotype: Genotype) -> tuple[int, int]:
        if genotype.id not in self._sizes:
            self._sizes[genotype.id] = self.surrogate.size(genotype)
        return self._sizes[genotype.id]

    def proxies(self, genotype: Genotype, seed: int, names: tuple[str, ...]) -> dict[str, dict]:
        """NN-Mass from the genotype (no seconds pass); the proxies that need a model and data have no score."""
        out = {}
        for name in names:
            if name not in FREE:
                out[name] = {"value": None, "seconds": 0.0, "reason": "a surrogate scores only " + ", ".join(FREE)}
                continue
            try:
                out[name] = {"value": float(FREE[name](genotype)), "seconds": 0.0, "reason": ""}
            except NotApplicable as e:
                out[name] = {"value": None, "seconds": 0.0, "reason": str(e)}
        return out
