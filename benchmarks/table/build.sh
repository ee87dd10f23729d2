#!/usr/bin/env bash
# Rebuilds the tabular benchmark: every genotype of search_space=dense_grid trained once through
# python -m nas.search (sampler=grid, journal storage), and a second seed for a random quarter of
# them; then writes the table. Resumable: run it again and each study goes on where it stopped.
# About 5 CPU-hours; each worker runs at low priority on one thread (the epoch times it records
# are one core's). WORKERS=2 runs two workers per study on one journal (one per core).
#   [WORKERS=2] bash benchmarks/table/build.sh [path to the CIFAR-10 image folder]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data/cifar10}
BUILD=benchmarks/table/build
COMMON=(search_space=dense_grid sampler=grid data=folder "data.root=$DATA" data.train_size=8000 data.val_size=2000
        data.image_size=16 data.crop_padding=2 train.epochs=6 train.batch_size=128 train.lr=0.2 train.progress=false
        device=cpu logger=none enqueue_baselines=false plot_every=1e9 storage=journal
        'objectives=[val_accuracy,params,macs,latency_batch1_ms]')
export OMP_NUM_THREADS=1
# nice alone does not lower a background job's share on Linux with autogroups (each session is its own group)
echo 19 > /proc/self/autogroup 2>/dev/null || true
mkdir -p "$BUILD"
study() {  # name seed n_trials: WORKERS workers on one journal (grid workers share the study's order)
    local pids=() i
    for ((i = 0; i < ${WORKERS:-1}; i++)); do
        nice -n 19 python -m nas.search "${COMMON[@]}" study_name="dense_grid-$1" seed="$2" n_trials="$3" \
            storage.path="$BUILD/$1.journal" worker="$i" &
        pids+=($!)
        sleep 5
    done
    for i in "${pids[@]}"; do wait "$i"; done
}
study seed0 0 192
study seed1 1000 48
python -m nas.table build "$BUILD/seed0.journal" "$BUILD/seed1.journal"
