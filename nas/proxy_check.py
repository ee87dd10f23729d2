"""``python -m nas.proxy_check``: how far to trust the brief training budget.

    python -m nas.proxy_check search_space=dense_connectivity n_genotypes=8 factor=4 train=smoke \\
        data=folder data.root=../shared/data/cifar10 data.train_size=2000 data.val_size=1000

A search ranks architectures by accuracy after brief training; what matters is
whether longer training would rank them the same way. This draws ``n_genotypes``
distinct genotypes from the space at random, trains each with the ``train`` budget
and with ``factor`` times its epochs (same seed, same data, same validation split),
and reports Spearman's ρ and Kendall's τ between the two accuracy rankings, with a
plot. It also ranks the long runs after each of their epochs against their end: the
rung levels of ``scheduler=asha`` are the epochs where this is already high (choose
``scheduler.min_epochs`` and ``eta`` from it). NAS-Bench-201 reports about 0.9 between 12 and 200 epochs; reduced-training
proxies elsewhere reach about 0.6.

Writes ``runs/proxy_check/<time>/``: ``proxy_check.csv`` (one row per genotype),
``proxy_check.png`` and ``result.json``; the last line printed is that JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from nas.analysis.brief_training import proxy_check
from nas.cli import fail_job, quiet_on_broken_pipe, run_app
from nas.files import strict_json
from nas.runtime import startup
from nas.settings import parse_proxy_check


@hydra.main(config_path="conf", config_name="proxy_check", version_base="1.3")
@quiet_on_broken_pipe
def _hydra_main(cfg: DictConfig) -> None:
    startup()  # again: a launcher's workers enter here, not through main()
    out_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    try:
        result = proxy_check(parse_proxy_check(cfg), out_dir, log=lambda m: print(m, file=sys.stderr))
    except ValueError as e:
        fail_job(e)
    print(f"Spearman ρ = {result['spearman']:.3f}, Kendall τ = {result['kendall']:.3f} "
          f"({result['n_genotypes']} genotypes, {result['brief_epochs']} vs {result['long_epochs']} epochs)")
    for row in result["per_epoch"]:  # a scheduler's rung at this epoch of the long runs
        print(f"  epoch {row['epoch']:3d} of {result['long_epochs']} vs its end: Spearman ρ = {row['spearman']:.3f}, "
              f"Kendall τ = {row['kendall']:.3f}, top third kept {row['top_third_kept']:.2f}"
              + ("  (a rung_cycles cycle ends here)" if row["epoch"] in result["cycle_ends"] else ""))
    print(json.dumps(strict_json(result), allow_nan=False))


def main() -> None:
    run_app(_hydra_main, "proxy_check", "python -m nas.proxy_check")


if __name__ == "__main__":
    main()
