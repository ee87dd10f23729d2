"""The prepared GPU run: each stage of ``stages.py`` in its own process with its own time limit,
its figures written to OUT as soon as it ends, then one summary ``OUT/results.md``.

    python benchmarks/gpu/run.py OUT --data DATA_ROOT [--stages abcd] [--dry-run]     # then --stages ef

``run.sh`` installs the bundle's wheels and unpacks the data first; on a machine with the
project installed, this script alone runs the stages.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMITS = {"a": 60, "b": 100, "c": 100, "d": 240,  # seconds: under 9 minutes with start-up, in one 10-minute call
          "e": 260, "f": 220,  # a second call: e and f
          "g": 420}  # a third: g


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--stages", default="abcd")
    p.add_argument("--work", type=Path, help="studies, caches and runs (default OUT/work); keep it out of OUT "
                                              "where OUT travels back")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    lines = [f"# GPU run {time.strftime('%Y-%m-%d %H:%M')}" + (" (dry run on the CPU)" if args.dry_run else ""), ""]
    failed = 0
    for stage in args.stages:
        limit = LIMITS[stage] * (2 if args.dry_run else 1)
        start = time.perf_counter()
        # Its own process group: at the limit, the stage and every command it started (search
        # workers, trainings) stop together instead of running on into the next stage.
        log = open(args.out / f"{stage}.log", "w")
        proc = subprocess.Popen([sys.executable, str(HERE / "stages.py"), stage, str(args.out), "--data",
                                 str(args.data), *(["--dry-run"] if args.dry_run else [])],
                                cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=limit)
            status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        except subprocess.TimeoutExpired:
            status = f"stopped at its limit of {limit} s"
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        tail = (args.out / f"{stage}.log").read_text(errors="replace").strip().splitlines()[-5:]
        failed += status != "ok"
        seconds = time.perf_counter() - start
        figures = args.out / f"{stage}.json"
        lines += [f"## Stage {stage}: {status} in {seconds:.0f} s", "", "```json",
                  figures.read_text() if figures.is_file() else "{}", "```", ""]
        if tail and status != "ok":
            lines += ["```", *tail, "```", ""]
        (args.out / "results.md").write_text("\n".join(lines))  # after every stage: a late failure loses nothing
        print(f"stage {stage}: {status} in {seconds:.0f} s", flush=True)
    print(json.dumps({"results": str(args.out / "results.md"), "failed_stages": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
