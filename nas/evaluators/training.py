"""``evaluator=train``: every trial trains, on the data prepared once for the study."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

import search_spaces
from nas.evaluators.clock import WallClock
from nas.genotype import Genotype
from nas.outputs import weights
from nas.pareto.objectives import LATENCIES
from nas.runtime import use_cpu_threads
from nas.scheduling.rules import RungRule
from nas.study.record import METRICS, Status, TrialRecord
from nas.study.search_settings import SearchSettings
from nas.training import heatmap, zero_cost
from nas.training.config import TrainConfig
from nas.training.data import PreparedData, prepare
from nas.training.memory import neighbour_may_hold
from nas.training.metrics import inference_latency
from nas.training.run import build, fit_in_memory, measure, resolve_device, train_genotype
from nas.training.trainer import free_memory, is_oom


class Training:
    """Trains every trial on the study's prepared data."""

    name: ClassVar[str] = "train"
    simulated: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Settings:
        name: str = "train"

    @classmethod
    def open(cls, settings: SearchSettings, out_dir: Path, log: Callable[[str], Any]) -> Training:
        """This worker's device, threads and memory share, and the study's data, prepared once (bad data is
        refused here, before any study is made)."""
        device = resolve_device(settings.device)
        use_cpu_threads(settings.cpu_threads)
        if device.type == "cuda" and settings.gpu_memory_share is not None:  # workers sharing a GPU: each its part
            index = device.index if device.index is not None else torch.cuda.current_device()
            torch.cuda.set_per_process_memory_fraction(float(settings.gpu_memory_share), index)
        if device.type != "cuda":
            threads = torch.get_num_threads()
            log(f"no GPU: trials train on the CPU ({threads} thread{'s' * (threads != 1)}"
                + ("; several workers on one machine: give each cpu_threads=cores/workers"
                   if settings.cpu_threads is None else "") + "); use train=smoke and a small data.train_size")
        data = prepare(settings.data, device, channels_last=settings.train.on(device).channels_last)
        check_feasible(settings, data.num_classes, data.in_channels, data.image_size)
        return cls(data, settings.train, list(settings.objectives), out_dir, settings.gpu_memory_share)

    def __init__(self, data: PreparedData, train: TrainConfig, objectives: list[str], out_dir: Path,
                 gpu_memory_share: float | None = None) -> None:
        self.data, self.tcfg, self.objectives, self.out_dir = data, train, objectives, out_dir
        self.gpu_memory_share = gpu_memory_share
        self.clock = WallClock()
        self._measured: dict[str, tuple[torch.nn.Module, int, int]] = {}  # the genotype being evaluated

    def setup(self) -> dict[str, Any]:
        """The data, its split and the training budget, and what an exported model takes: its input
        shape, classes and normalisation."""
        data, tcfg = self.data, self.tcfg
        d = data.config
        budget = {k: v for k, v in dataclasses.asdict(tcfg).items()
                  if k not in ("progress", "compile", "memory_efficient", "memory_fraction", "memory_limit_gb")
                  and (k != "ema_follows_lr" or tcfg.protocol == "ema")}  # recorded where it changes what is judged
        return {"data": d.name, "root": str(Path(d.root).expanduser().resolve()), "image_size": list(data.image_size),
                "in_channels": data.in_channels, "classes": len(data.classes), "split_seed": d.split_seed,
                "val_size": len(data.val), "train_size": len(data.train), "crop_padding": d.crop_padding,
                "flip": d.flip, "train": budget, "class_names": list(data.classes),
                "mean": [round(float(v), 6) for v in data.mean], "std": [round(float(v), 6) for v in data.std]}

    def size(self, genotype: Genotype) -> tuple[int, int]:
        measured = measure(genotype, self.data, memory_efficient=self.tcfg.memory_efficient)  # nothing allocated
        self._measured = {genotype.id: measured}
        return measured[1], measured[2]

    def latencies(self, genotype: Genotype, seed: int, names: list[str], record: TrialRecord) -> bool:
        meta = self._measured[genotype.id][0]
        if fit_in_memory(meta, self.data, self.tcfg)[3]:  # training will be refused: nothing is built
            return True
        fresh = self._on_device(build(genotype, self.data, seed=seed))  # weights do not matter for latency
        fitted = self._latencies_into(record, fresh, names)
        del fresh
        free_memory(self.data.train.device)
        return fitted

    def proxies(self, genotype: Genotype, seed: int, names: tuple[str, ...]) -> dict[str, dict]:
        """Scored on the trial's device and memory format, on its first two training batches (never
        validation data), the weights initialised as its training will initialise them."""
        device = self.data.train.device
        try:
            model = self._on_device(build(genotype, self.data, seed=seed))
            stream = self.data.train.train_batches(self.tcfg.batch_size, torch.Generator(device=device).manual_seed(seed))
            batches = [b for b, _ in zip(stream, range(2))]
            return zero_cost.score(model, genotype, batches, names)
        except Exception as e:  # noqa: BLE001 - a proxy that does not fit is a missing score, not a failed trial
            if not is_oom(e):
                raise
            reason = f"out of memory scoring on {device.type} ({str(e).splitlines()[0][:120]})"
        free_memory(device)
        return {n: {"value": None, "seconds": 0.0, "reason": reason} for n in names}

    def train(self, number: int, genotype: Genotype, seed: int, record: TrialRecord, judge: RungRule | None) -> None:
        data, tcfg = self.data, self.tcfg
        if judge is not None:
            tcfg = tcfg.for_rungs(judge.rungs)  # rung_cycles: its cycles end at this trial's rungs
        measured = self._measured.pop(genotype.id, None)
        model, result = train_genotype(genotype, data, tcfg, seed=seed, measured=measured,
                                       rules=[judge] if judge is not None else [])
        record.status, record.reason, record.history = Status(result["status"]), result["reason"], result["history"]
        record.environment = result["environment"]
        ran_out = record.status == Status.OOM and result["memory_estimate_bytes"] <= result["memory_cap_bytes"]
        share = self.gpu_memory_share
        if ran_out and share is not None and neighbour_may_hold(data.train.device, share):
            # Workers share the GPU and this one was under its share: not a result of this genotype.
            record.status = Status.INTERRUPTED
            record.reason = (f"{result['reason'][:300]} — on a GPU shared with other workers "
                             f"(gpu_memory_share={share:g}); queued again (storage.max_retry)")
            return
        record.metrics.update({k: v for k, v in result.items() if k in METRICS})
        if record.status != Status.OK:
            return
        record.heatmaps = [m.to_dict() for m in heatmap.connection_strengths(model)]
        if not self._latencies_into(record, model, [o for o in self.objectives if o not in record.metrics]):
            return
        try:
            weights.keep(self.out_dir, number, model, genotype, data)
        except OSError as e:  # a full disk costs the weights, not the result
            record.reason = "; ".join(filter(None, [record.reason, f"trained weights not kept: {e}"]))[:500]

    def _on_device(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model where, and in the memory format in which, its trial trains."""
        device = self.data.train.device
        on = self.tcfg.on(device)
        return model.to(device, memory_format=torch.channels_last if on.channels_last else torch.preserve_format)

    def _latencies_into(self, record: TrialRecord, model: torch.nn.Module, names: list[str]) -> bool:
        """Measure the latency objectives among ``names`` into ``record``; False (status oom, the
        rest of the record kept) when the latency batch does not fit."""
        try:
            record.metrics.update(latencies(model, self.data, self.tcfg, names))
            return True
        except Exception as e:  # noqa: BLE001 - out of memory at the latency batch is a result, not an error
            if not is_oom(e):
                raise
            record.status = Status.OOM
            record.reason = (f"out of memory measuring inference latency on {self.data.train.device.type} "
                             f"({str(e).splitlines()[0][:160]})"
                             + ("; the training result is kept" if "val_accuracy" in record.metrics else ""))
        free_memory(self.data.train.device)  # outside the except block: the traceback's tensors can go now
        return False


def latencies(model: torch.nn.Module, data: PreparedData, tcfg: TrainConfig, objectives: list[str]) -> dict[str, float]:
    """Inference latency on the trial's device, at the precision and memory format the trial trained
    and validated in (bf16 and channels-last on a GPU), measured only when an objective asks for it."""
    device = data.train.device
    on = tcfg.on(device)
    return {key: 1000 * inference_latency(model, data.image_size, batch_size=batch, in_channels=data.in_channels,
                                          device=device, channels_last=on.channels_last, bf16=on.bf16)
            for key, batch in LATENCIES.items() if key in objectives}


def check_feasible(settings: SearchSettings, num_classes: int, in_channels: int,
                   image_size: tuple[int, int]) -> None:
    """Refuse constraints that even the space's smallest genotype breaks."""
    for key, metric in (("max_params", "params"), ("max_macs", "macs")):
        limit = getattr(settings, key)
        if limit is None:
            continue
        genotype, value = search_spaces.smallest(settings.space, settings.search_space, metric, num_classes,
                                                 in_channels, image_size)
        if value > limit:
            raise ValueError(f"{key}={limit:,}: no genotype in search_space={settings.search_space.name} satisfies it — "
                             f"the smallest found, {genotype.name}, has {value:,} {metric}; raise {key} or "
                             "widen the space's lower bounds")
