"""The prepared GPU run (benchmarks/gpu/): its data packing, and the whole run in its dry-run mode on
the CPU, so that the kit works the day a GPU is lent."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))

from datasets import write_folder  # noqa: E402
from pack import pack, unpack  # noqa: E402


def test_packing_keeps_every_image_byte_for_byte(tmp_path):
    root = write_folder(tmp_path / "ds", n_per_class=5, classes=3, size=8)
    info = pack(root, tmp_path / "data.pack", per_class=4)
    assert info["images"] == 12 and info["classes"] == 3
    assert unpack(tmp_path / "data.pack", tmp_path / "out") == 12
    for folder in sorted((root / "train").iterdir()):
        for i, original in enumerate(sorted(folder.glob("*.png"))):
            copy = tmp_path / "out" / "train" / folder.name / original.name
            assert copy.is_file() == (i < 4)  # the first four of each class, by name
            if copy.is_file():
                assert copy.read_bytes() == original.read_bytes()


def _run_sh(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """run.sh with this interpreter as $PYTHON, and on PATH a python3 that fails: a run that takes the
    first python3 on PATH (not the one with the project, e.g. in a virtual environment) fails."""
    stub = tmp_path / "path" / "python3"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\necho 'run.sh ran python3 from PATH, not $PYTHON' >&2\nexit 97\n")
    stub.chmod(0o755)
    env = {**os.environ, "PYTHON": sys.executable, "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu" / "run.sh"), *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_the_gpu_run_in_its_dry_run_mode(tmp_path):
    proc = _run_sh(tmp_path, "--dry-run", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["failed_stages"] == 0
    out = tmp_path / "out"
    a = json.loads((out / "a.json").read_text())
    assert a["ok"] and a["memory_efficient_fp32"]["max_abs_output_diff"] < 1e-4
    b = json.loads((out / "b.json").read_text())
    assert {"builder", "builder memory_efficient", "torchvision reference", "builder compiled"} <= set(b)
    assert b["builder compiled"]["compile_seconds"] > 0 and b["builder"]["epoch_seconds"] > 0
    c = json.loads((out / "c.json").read_text())
    assert c["1_workers"]["complete"] >= 1 and c["2_workers"]["trials_per_hour"] > 0
    one = c["1_workers"]  # every trial scored by the seven proxies before training, their cost said
    assert len(one["median_seconds_per_proxy"]) == 7 and one["median_proxy_seconds"] > 0 and one["median_trial_seconds"] > 0
    d = json.loads((out / "d.json").read_text())
    assert d["search"]["rc"] == 0 and d["export"]["rc"] == 0
    assert d["searched"]["result"]["status"] == "ok" and d["densenet_bc100_k12"]["result"]["status"] == "ok"
    assert (out / "speedrun_best.yaml").is_file() and (out / "searched.pt").is_file()
    results = (out / "results.md").read_text()
    assert [l for l in results.splitlines() if l.startswith("## Stage")] == [
        l for l in results.splitlines() if l.startswith("## Stage") and ": ok in " in l] and results.count("## Stage") == 4


def test_the_second_calls_stages_in_their_dry_run_mode(tmp_path):
    """e (multi-fidelity) and f (training protocols)."""
    proc = _run_sh(tmp_path, "--dry-run", str(tmp_path / "out"), "ef")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    f = json.loads((tmp_path / "out" / "f.json").read_text())
    runs = [json.loads(line) for line in (tmp_path / "out" / "f-runs.jsonl").read_text().splitlines()]
    assert sorted({r["protocol"] for r in runs}) == ["ema", "onecycle", "rung_cycles", "schedule_free"]
    assert len(runs) == 3 * 4 and all(len(r["val_accuracy"]) == 2 for r in runs)
    assert f["table"][0].startswith("3 genotypes trained under every protocol")
    assert any(line.startswith("rung_cycles       1") for line in f["table"])
    e = json.loads((tmp_path / "out" / "e.json").read_text())
    assert e["tpe"]["full_budget"] >= 1 and e["tpe+asha"]["architectures"] >= e["tpe+asha"]["full_budget"] >= 1
    assert e["tpe"]["final_hypervolume"] > 0 and len(e["tpe+asha"]["hypervolume_at_quarters"]) == 4
    assert "asha_reached_tpe_final_at_fraction" in e


def test_the_third_calls_stage_in_its_dry_run_mode(tmp_path):
    """g: the tabular benchmark's sample retrained at 32×32, ranked against the table."""
    proc = _run_sh(tmp_path, "--dry-run", str(tmp_path / "out"), "g")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    runs = [json.loads(line) for line in (tmp_path / "out" / "g-runs.jsonl").read_text().splitlines()]
    assert len(runs) == 3 and len({r["pattern"] for r in runs}) == 3  # the first size bin of three patterns
    assert all(r["settings"]["image_size"] == 32 and len(r["val_accuracy"]) == 1 for r in runs)
    g = json.loads((tmp_path / "out" / "g.json").read_text())
    assert any("3 genotypes retrained at 32×32" in line for line in g["table"])
