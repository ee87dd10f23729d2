"""The stages of the prepared GPU run; ``run.py`` runs each in its own process, with its own limit.

    python benchmarks/gpu/stages.py STAGE OUT_DIR --data DATA_ROOT [--dry-run]

a  CUDA correctness: memory-efficient equals plain (outputs and gradients, fp32 and bf16
   autocast), a bf16 + channels-last training step, the compiled model equals eager.
b  Speed: DenseNet-BC-100 (k=12), one epoch on the packed CIFAR-10 at the default batch:
   the builder plain, memory-efficient and compiled, and the torchvision-blocks reference.
c  Trials per hour: one fixed small search with 1, 2 and 4 workers sharing the device (the cores
   shared as the local launcher does); the median trial's seconds: training and the proxies.
d  The speedrun: a short search, the export of its best genotype with ≤ 0.8M parameters,
   then that genotype and DenseNet-BC-100 trained with one longer budget.
e  Multi-fidelity (benchmarks/multifidelity.py on the GPU): TPE with every trial at the full
   budget against TPE + scheduler=asha, the same wall-clock each; the hypervolume of the
   full-budget front against time. Its own call: a–d fill one 10-minute call.
f  Training protocols (benchmarks/training_protocols.py at 32×32 on the GPU): 12 genotypes under each
   protocol for 9 epochs; per protocol and rung the rank correlation with the end and the
   share of the end's top third kept, and the final accuracy against one-cycle's. With e,
   the second call.
g  The tabular benchmark at 32×32 (benchmarks/table_check.py on the GPU): its stratified sample of
   33 genotypes retrained on all the data for 10 epochs, a size bin at a time over the patterns;
   their ranking against the table's and the pattern effects at both resolutions. A third call.

Each stage writes OUT_DIR/<stage>.json (and what it trained) when it ends; its studies, caches
and runs go to the working folder. ``--dry-run``:
the same code with tiny sizes on the CPU, so that the kit is tested where no GPU is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from nas import build_model  # noqa: E402
from nas.genotype.presets import PRESETS  # noqa: E402
from nas.runtime import startup, threads_per_worker  # noqa: E402

TINY = "stem: {kind: cifar, channels: 8}\nblocks: [{layers: 2, growth: 4, bottleneck: 2}, {layers: 2, growth: 4}]\n" \
       "transitions: [{compression: 0.5}]\n"


def _device(dry: bool) -> torch.device:
    return torch.device("cpu" if dry else "cuda")


def _genotype(dry: bool):
    if not dry:
        return PRESETS["densenet_bc100_k12"]
    from nas.genotype import Genotype

    return Genotype.from_yaml(TINY)


def stage_a(out: Path, data: Path, dry: bool) -> dict:
    device = _device(dry)
    genotype = _genotype(dry)
    torch.manual_seed(0)
    plain = build_model(genotype).to(device)
    efficient = build_model(genotype, memory_efficient=True).to(device)
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(16, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (16,), device=device)
    result = {}
    for precision in ("fp32", "bf16"):
        outputs, grads = [], []
        for model in (plain, efficient):
            model.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(x).float()
            torch.nn.functional.cross_entropy(logits, y).backward()
            outputs.append(logits.detach())
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        scale = grads[0].abs().max().item()
        result[f"memory_efficient_{precision}"] = {
            "max_abs_output_diff": (outputs[0] - outputs[1]).abs().max().item(),
            "max_abs_grad_diff_relative": (grads[0] - grads[1]).abs().max().item() / scale}
    step_model = build_model(genotype).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(step_model.parameters(), lr=0.1, momentum=0.9)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        loss = torch.nn.functional.cross_entropy(step_model(x.contiguous(memory_format=torch.channels_last)).float(), y)
    loss.backward()
    opt.step()
    result["bf16_channels_last_step_loss"] = loss.item()
    result["ok"] = (result["memory_efficient_fp32"]["max_abs_output_diff"] < 1e-3
                    and result["memory_efficient_bf16"]["max_abs_grad_diff_relative"] < 5e-2 and loss.isfinite().item())
    _write(out, "a", result)  # the compilation below may take the rest of the limit
    plain.eval()
    start = time.perf_counter()
    try:
        compiled = torch.compile(plain)
        with torch.no_grad():
            diff = (compiled(x) - plain(x)).abs().max().item()
    except Exception as e:  # noqa: BLE001 - a compiler failure is a finding, not the end of the stage
        result["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        result["ok"] = False
        return result
    result["compiled_vs_eager_max_abs_diff"] = diff
    result["compile_seconds"] = time.perf_counter() - start
    result["ok"] = result["ok"] and diff < 1e-3
    return result


def stage_b(out: Path, data: Path, dry: bool) -> dict:
    from builder_vs_torchvision import TorchvisionCifarDenseNet

    from nas.training.config import TrainConfig
    from nas.training.data import DataConfig, prepare
    from nas.training.trainer import fit

    device = _device(dry)
    prepared = prepare(DataConfig("folder", str(data), download=False, val_size=1000 if not dry else 10,
                                  cache_dir=str(Path.cwd() / "cache")), device, channels_last=True)
    genotype = _genotype(dry)
    variants = {"torchvision reference": dict(reference=True), "builder": dict(),
                "builder memory_efficient": dict(memory_efficient=True), "builder compiled": dict(compile=True)}
    result = {"train_images": len(prepared.train), "batch_size": 256 if not dry else 16}
    for name, how in variants.items():  # the compiled one last: its compilation may use up the limit
        torch.manual_seed(0)
        model = (TorchvisionCifarDenseNet(12, (16, 16, 16), 24, 4, 0.5, 10, False) if how.get("reference") and not dry
                 else build_model(genotype, memory_efficient=how.get("memory_efficient", False)))
        cfg = TrainConfig(epochs=2 if not dry else 1, batch_size=result["batch_size"], progress=False,
                          stop_at_chance=False, compile=how.get("compile", False),
                          memory_efficient=how.get("memory_efficient", False))
        r = fit(model, prepared.train, prepared.val, cfg, num_classes=prepared.num_classes)
        last = r.history[-1] if r.history else {}
        result[name] = {"status": r.status.value, "epoch_seconds": last.get("seconds"),
                        "images_per_second": last.get("images_per_second"), "compile_seconds": r.compile_seconds,
                        "peak_memory_bytes": r.peak_memory_bytes, "val_accuracy": r.val_accuracy}
        for done in result.values():  # images/s over the reference's, once the reference has run
            ref = result.get("torchvision reference", {}).get("images_per_second")
            if isinstance(done, dict) and done.get("images_per_second") and ref:
                done["vs_reference"] = done["images_per_second"] / ref
        _write(out, "b", result)  # what has finished survives a later timeout
    return result


def _search_args(data: Path, study: str, dry: bool, extra: list[str]) -> list[str]:
    budget = (["train=smoke", "train.batch_size=16", "data.val_size=10", "search_space.layers=[2,3]",
               "search_space.growth=[4,6]", "device=cpu"] if dry else
              ["train.epochs=2", "data.val_size=5000", "device=cuda"])
    return ["data=folder", f"data.root={data}", f"data.cache_dir={Path.cwd() / 'cache'}", "logger=none",
            "enqueue_baselines=false", "plot_every=3600", f"study_name={study}", *budget, *extra]


def stage_c(out: Path, data: Path, dry: bool) -> dict:
    """Trials per hour with 1, 2 and 4 workers on one device, each run for a fixed time."""
    seconds = 20 if dry else 25  # dry: two CPU workers start (imports, data) before their first trial
    result = {"seconds_per_setting": seconds}
    for workers in (1, 2) if dry else (1, 2, 4):
        study = f"tph{workers}"
        journal = Path.cwd() / f"{study}.journal"
        small = [] if dry else ["data.train_size=5000", "train.epochs=1"]  # many short trials in the window
        share = [] if dry or workers == 1 else [f"gpu_memory_share={1 / workers:.4f}"]
        threads = f"cpu_threads={threads_per_worker(workers)}"  # the cores shared as the local launcher does
        procs = [subprocess.Popen([sys.executable, "-m", "nas.search", *_search_args(
            data, study, dry, ["storage=journal", f"storage.path={journal}", "n_trials=10000", f"worker={w}",
                               "sampler=random", threads, *small, *share])],
            cwd=Path.cwd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for w in range(workers)]
        try:
            utilisation = _sample_gpu(seconds) if not dry else time.sleep(seconds)
            stopped = time.time()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
        import optuna

        from nas.study.storage import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
        trials = optuna.load_study(study_name=study, storage=storage).trials
        # From the first trial's start: the workers' start-up (imports, data) is not the rate of trials.
        first = min((t.datetime_start.timestamp() for t in trials if t.datetime_start), default=stopped)
        done = sum(t.state.name == "COMPLETE" and t.datetime_complete.timestamp() <= stopped for t in trials)
        result[f"{workers}_workers"] = {"complete": done, "timed_seconds": stopped - first,
                                        "trials_per_hour": done * 3600 / (stopped - first) if stopped > first else None,
                                        "gpu_utilisation_percent": utilisation, **_trial_seconds(trials)}
        _write(out, "c", result)
    return result


def _trial_seconds(trials: list) -> dict:
    """Medians over the completed trials: the whole trial, its training, and the zero-cost proxies
    every trial is scored by before it trains (the default: all seven), in total and each (a backward
    pass that grad_norm, snip and ZiCo share is split evenly between them)."""
    from statistics import median

    from nas.study.record import TrialRecord

    records = [TrialRecord.of(t) for t in trials if t.state.name == "COMPLETE"]
    if not records:
        return {}
    names = sorted({n for r in records for n in r.proxies})
    return {"median_trial_seconds": median(r.trial_seconds or 0.0 for r in records),
            "median_training_seconds": median(r.metrics.get("wall_seconds", 0.0) for r in records),
            "median_proxy_seconds": median(sum(p["seconds"] for p in r.proxies.values()) for r in records),
            "median_seconds_per_proxy": {n: median(r.proxies[n]["seconds"] for r in records if n in r.proxies)
                                         for n in names}}


def _sample_gpu(seconds: float) -> float | None:
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            q = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                               capture_output=True, text=True, timeout=5)
            samples.append(float(q.stdout.split()[0]))
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            pass
        time.sleep(1)
    return sum(samples) / len(samples) if samples else None


def stage_d(out: Path, data: Path, dry: bool) -> dict:
    """Search briefly, export the best genotype with ≤ 0.8M parameters, train it and DenseNet-BC-100 alike."""
    work = Path.cwd()
    deadline = time.monotonic() + (225 if not dry else 200)  # the stage's limit in run.py, less a margin
    result = {}
    search = _command(["nas.search", *_search_args(data, "speedrun", dry, [
        "n_trials=200" if not dry else "n_trials=2", "max_params=800000", "sampler=tpe"])], work,
        80 if not dry else 40)
    result["search"] = search
    export = _command(["nas.export", str(work / "runs" / "speedrun"), "--pick", "best-accuracy", "--max-params",
                       "800000", "--out", str(out / "speedrun_best.yaml")], work, 20 if not dry else 60)
    result["export"] = export
    epochs = 6 if not dry else 1
    searched = str(out / "speedrun_best.yaml")
    budget = ["device=cpu", "train=smoke", "train.batch_size=16", "data.val_size=10"] if dry else \
        ["device=cuda", "data.val_size=5000"]
    for name, genotype in (("searched", searched), ("densenet_bc100_k12", searched if dry else "densenet_bc100_k12")):
        run = _command(["nas.train", f"genotype={genotype}", "data=folder", f"data.root={data}",
                        f"data.cache_dir={work / 'cache'}",
                        f"train.epochs={epochs}", "seed=0", *budget, f"hydra.run.dir={work / 'train' / name}"],
                       work, max(10.0, (deadline - time.monotonic()) / (2 if name == "searched" else 1) - 5))
        result[name] = run
        model = work / "train" / name / "model.pt"
        if model.is_file():
            (out / f"{name}.pt").write_bytes(model.read_bytes())
        _write(out, "d", result)
    return result


def stage_e(out: Path, data: Path, dry: bool) -> dict:
    """TPE at the full budget against TPE + asha, each for the same wall-clock time."""
    import argparse

    import multifidelity as mf

    args = argparse.Namespace(data_root=data, train_size=None if dry else 20000, val_size=10 if dry else 5000,
                              image_size=32, epochs=2 if dry else 6, eta=3, batch_size=16 if dry else 256,
                              lr=0.05 if dry else 0.4, minutes=0.4 if dry else 1.6, device="cpu" if dry else "cuda",
                              protocol=mf.SHIPPED_PROTOCOL)
    budget = args.minutes * 60
    result: dict = {"settings": {k: str(v) for k, v in vars(args).items()}}
    for method in ("tpe", "tpe+asha"):
        start, db = mf.run_study(method, 0, args, Path.cwd())
        c = mf.curve(start, db, method, 0, budget)
        result[method] = {"final_hypervolume": mf.at(c["points"], budget), "architectures": c["architectures"],
                          "full_budget": c["full"], "stopped": c["stopped"],
                          "hypervolume_at_quarters": [mf.at(c["points"], budget * q / 4) for q in (1, 2, 3, 4)]}
        _write(out, "e", result)
    target = result["tpe"]["final_hypervolume"]
    when = mf.reached([p for p in c["points"] if p[0] <= budget], target) if target > 0 else None
    result["asha_reached_tpe_final_at_fraction"] = None if when is None else when / budget
    return result


def stage_f(out: Path, data: Path, dry: bool) -> dict:
    """The training protocols (benchmarks/training_protocols.py) at 32×32: how each protocol's rungs rank
    genotypes against their end, and its final accuracy against one-cycle's."""
    import argparse

    import training_protocols as protocols

    args = argparse.Namespace(data_root=data, train_size=None if dry else 10000, val_size=10 if dry else 5000,
                              image_size=32, epochs=2 if dry else 9, rungs=[1] if dry else [1, 3],
                              batch_size=16 if dry else 256, lr=0.05 if dry else 0.4, genotypes=3 if dry else 12,
                              protocols=list(protocols.PROTOCOLS), ceiling=[], results=out / "f-runs.jsonl",
                              shard="0/1", threads=torch.get_num_threads(), device="cpu" if dry else "cuda")
    protocols.train(args)  # each run appended to f-runs.jsonl as it ends: a stage stopped at its limit keeps them
    return {"settings": {k: str(v) for k, v in vars(args).items()}, "table": protocols.report(args)}


def stage_g(out: Path, data: Path, dry: bool) -> dict:
    """The tabular benchmark's verdicts at 32×32 with all the data and more epochs
    (benchmarks/table_check.py on the GPU): its stratified sample of genotypes retrained, a size bin
    at a time over the patterns; their ranking against the table's (16×16, 8,000 images, 6 epochs)
    beside the table's seed-to-seed ceiling, and the size-adjusted pattern effects at both."""
    import argparse

    import table_check

    from nas.tabular.table_file import Table

    table = Table.load("dense_grid")
    args = argparse.Namespace(table="dense_grid", data_root=data, image_size=32, per_pattern=6, exact=False,
                              train_size=None, val_size=10 if dry else 5000, epochs=1 if dry else 10,
                              batch_size=16 if dry else 256, lr=0.05 if dry else 0.4, device="cpu" if dry else "cuda",
                              threads=torch.get_num_threads(), cache_dir=None, genotypes=3 if dry else None,
                              check_data=False,  # the packed subset of the table's images (or the dry run's)
                              minutes=None if dry else 5.5,  # within the stage's limit, reporting included
                              shard="0/1", results=out / "g-runs.jsonl")
    table_check.train(args, table)  # each run appended to g-runs.jsonl as it ends: a stage stopped at its limit keeps them
    return {"settings": {k: str(v) for k, v in vars(args).items()}, "table": table_check.report(args, table)}


def _command(argv: list[str], cwd: Path, limit: float) -> dict:
    """Run ``python -m argv`` with a time limit — at the limit, SIGTERM, which the commands treat
    as Ctrl-C (a search stops and keeps its trials) — and return its last JSON line and timing."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, "-m", *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        stdout, stderr = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.terminate()
        stdout, stderr = p.communicate(timeout=60)
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    return {"rc": p.returncode, "seconds": time.perf_counter() - start, "hit_limit": time.perf_counter() - start >= limit,
            "result": json.loads(lines[-1]) if lines else None, "stderr_tail": stderr.strip().splitlines()[-3:]}


def _write(out: Path, stage: str, result: dict) -> None:
    (out / f"{stage}.json").write_text(json.dumps(result, indent=1, default=str))


STAGES = {"a": stage_a, "b": stage_b, "c": stage_c, "d": stage_d, "e": stage_e, "f": stage_f, "g": stage_g}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=sorted(STAGES))
    p.add_argument("out", type=Path)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    startup()
    args.out.mkdir(parents=True, exist_ok=True)
    result = STAGES[args.stage](args.out, args.data, args.dry_run)
    result["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() and not args.dry_run else "cpu"
    _write(args.out, args.stage, result)
    print(json.dumps({"stage": args.stage, **result}, default=str)[:4000])


if __name__ == "__main__":
    main()
