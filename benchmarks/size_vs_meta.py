"""How much faster the closed-form size (nas.models.size) is than the meta-model count, and that they agree.

A simulated study on the surrogate counts every draw's parameters and multiply-adds (the caps refuse
about half of the users' space's draws before anything else happens). Both counts run here, in one
process, on the same random genotypes of ``dense_connectivity`` at the surrogate's 16×16: the ratio of
their seconds per genotype, and the number of genotypes on which they differ (it must be 0).

    python benchmarks/size_vs_meta.py [--genotypes 100]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import optuna
from omegaconf import OmegaConf

import nas
import search_spaces
from nas.models.size import size
from nas.section import Section
from nas.training.metrics import count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genotypes", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=16)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = Path(nas.__file__).parent / "conf" / "search_space" / "dense_connectivity.yaml"
    cfg = Section.of(OmegaConf.to_container(OmegaConf.load(spec), resolve=True))
    module = search_spaces.get("dense_connectivity")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    genotypes = []
    for _ in range(args.genotypes):
        trial = study.ask()
        genotypes.append(module.suggest(trial, cfg))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    image = (args.image_size, args.image_size)
    began = time.perf_counter()
    meta = [count(g, num_classes=10, in_channels=3, image_size=image)[1:] for g in genotypes]
    meta_seconds = time.perf_counter() - began
    began = time.perf_counter()
    closed = [size(g, num_classes=10, in_channels=3, image_size=image) for g in genotypes]
    closed_seconds = time.perf_counter() - began
    differ = sum(a != b for a, b in zip(meta, closed))
    print(f"{args.genotypes} random genotypes of dense_connectivity at {image[0]}×{image[1]}: meta-model count "
          f"{meta_seconds / args.genotypes * 1e3:.1f} ms each, closed form {closed_seconds / args.genotypes * 1e3:.3f} ms "
          f"each: {meta_seconds / closed_seconds:.0f}× faster; counts that differ: {differ}")


if __name__ == "__main__":
    main()
