#!/usr/bin/env bash
# Prepare the GPU run's bundle in benchmarks/gpu/bundle/ (git-ignored; it travels with the
# working tree, ≤ 55 MiB): wheels the GPU machine's Python 3.12 lacks, and CIFAR-10's training
# images packed into one file. Needs the package registry (pip) and ../shared/data/cifar10.
#   bash benchmarks/gpu/prepare.sh [PER_CLASS]      # default 4000 images per class (40,000 of 50,000)
set -euo pipefail
cd "$(dirname "$0")"
PER_CLASS="${1:-4000}"
DATA="${CIFAR_ROOT:-../../../shared/data/cifar10}"
rm -rf bundle && mkdir -p bundle/wheels
# Pinned to the versions this project is tested with; --no-deps: torch, numpy, PyYAML, … are there.
pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d bundle/wheels optuna==5.0.0 hydra-core==1.3.8 omegaconf==2.3.1 sqlalchemy==2.1.9 alembic==1.20.1 \
    Mako==1.4.3 MarkupSafe colorlog==6.12.0 greenlet plotly==7.1.0 narwhals==2.29.0 schedulefree==1.4.1
# antlr4's runtime 4.9.3 (what hydra-core pins) exists only as a source archive: build its pure-Python wheel.
pip wheel -q --no-deps -w bundle/wheels antlr4-python3-runtime==4.9.3
python pack.py pack "$DATA" bundle/cifar10.pack --per-class "$PER_CLASS"
echo "bundle: $(du -sh bundle | cut -f1) in all"
ls -l bundle bundle/wheels | awk 'NF > 5 {printf "  %8.1f MiB  %s\n", $5 / 1048576, $9}'
