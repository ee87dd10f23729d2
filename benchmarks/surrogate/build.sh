#!/usr/bin/env bash
# Builds the surrogate benchmark's data: genotypes of search_space=dense_connectivity (the main
# command's space) of at most 1M parameters and DenseNet-BC-100's 72M multiply-adds at 16x16, trained
# through python -m nas.search at the table's data, resolution and protocol (benchmarks/table/README.md)
# for 3 epochs instead of 6 (benchmarks/surrogate/README.md says why): random, TPE and TPE+ASHA studies,
# and a second seed for 40 of the random study's genotypes, in three rounds, so that a stop at any
# point leaves a mix. Resumable: run it again and each study goes on where it stopped. Each worker runs
# at low priority on one thread (the epoch seconds it records are one core's); about 15 CPU-hours.
#   bash benchmarks/surrogate/build.sh [path to the CIFAR-10 image folder]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data/cifar10}
BUILD=benchmarks/surrogate/build
COMMON=(search_space=dense_connectivity data=folder "data.root=$DATA" data.train_size=8000 data.val_size=2000
        data.image_size=16 data.crop_padding=2 train.epochs=3 train.batch_size=128 train.lr=0.2 train.progress=false
        device=cpu cpu_threads=1 logger=none plot_every=1e9 storage=journal max_params=1000000 max_macs=72000000
        'proxies=[nn_mass]')
export OMP_NUM_THREADS=1
# nice alone does not lower a background job's share on Linux with autogroups (each session is its own group)
echo 19 > /proc/self/autogroup 2>/dev/null || true
mkdir -p "$BUILD"
study() {  # name seed n_trials overrides...
    local name=$1 seed=$2 n=$3
    shift 3
    nice -n 19 python -m nas.search "${COMMON[@]}" study_name="surrogate-$name" seed="$seed" n_trials="$n" \
        storage.path="$BUILD/$name.journal" "$@"
}
# three rounds: the same studies, each longer; replicas topped up from the random study's genotypes. The trial
# counts include the draws the caps refuse untrained (about half of the random ones, in a quarter of a second each)
for sizes in "150 60 80 16" "300 140 160 32" "400 200 200 40"; do
    read -r n_random n_tpe n_asha n_replica <<< "$sizes"
    study random 0 "$n_random" sampler=random
    study tpe 2000 "$n_tpe" sampler=tpe enqueue_baselines=false
    study asha 3000 "$n_asha" sampler=tpe scheduler=asha enqueue_baselines=false
    nice -n 19 python benchmarks/surrogate/replicate.py "$BUILD/random.journal" surrogate-random \
        "$BUILD/replica.journal" surrogate-replica --n "$n_replica"
    study replica 1000 "$n_replica" sampler=random enqueue_baselines=false
done
