#!/usr/bin/env bash
# The prepared GPU run, as one command on a machine without network (see README, "Running on a GPU"):
#   bash benchmarks/gpu/run.sh OUT [STAGES]        # e.g. OUT=$OUT/gpu, STAGES=abcd (default)
# Installs bundle/wheels into a temporary folder, unpacks bundle/cifar10.pack, then runs run.py.
# The dry run (tiny sizes, CPU, generated images, the current environment) keeps the kit tested:
#   bash benchmarks/gpu/run.sh --dry-run OUT
# Every step runs "$PYTHON", python3 from PATH unless set: PYTHON=.venv/bin/python bash benchmarks/gpu/run.sh …
# uses a virtual environment without activating it (the tests pass their own interpreter).
# On the project's lent device machine (15 minutes in all): one call, the bundle carried along —
#   command "bash benchmarks/gpu/run.sh $OUT/gpu", carry ["benchmarks/gpu/bundle"], timeout_s 600
# then commit OUT/gpu/results.md as benchmarks/results/gpu-<date>-<card>.md. With device time left, a second
# call runs the multi-fidelity and protocol stages: command "bash benchmarks/gpu/run.sh $OUT/gpu-ef ef" (under 9 minutes),
# and a third the tabular benchmark at 32×32: "bash benchmarks/gpu/run.sh $OUT/gpu-g g" (under 8 minutes).
set -euo pipefail
PYTHON="${PYTHON:-python3}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; shift; fi
OUT="$(mkdir -p "$1" && cd "$1" && pwd)"
STAGES="${2:-abcd}"
TMP="$(mktemp -d)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "$DRY" ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$TMP/site" "$HERE"/bundle/wheels/*.whl
    export PYTHONPATH="$PYTHONPATH:$TMP/site"
    "$PYTHON" "$HERE/pack.py" unpack "$HERE/bundle/cifar10.pack" "$TMP/cifar10"
    DATA="$TMP/cifar10"
else
    DATA="$TMP/tiny"
    "$PYTHON" - "$DATA" <<'PY'
import sys
from pathlib import Path

import numpy as np
from PIL import Image

rng = np.random.default_rng(0)
for label in range(3):  # 3 classes × 12 images of 32×32 whose brightness gives the class
    folder = Path(sys.argv[1]) / "train" / f"class_{label}"
    folder.mkdir(parents=True)
    for i in range(12):
        Image.fromarray(np.clip(40 + 80 * label + rng.integers(-20, 21, (32, 32, 3)), 0, 255).astype(np.uint8)).save(
            folder / f"{i:03d}.png")
PY
fi
"$PYTHON" "$HERE/run.py" "$OUT" --data "$DATA" --work "$TMP/work" --stages "$STAGES" $DRY
