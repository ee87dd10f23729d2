"""What scoring a trial by the zero-cost proxies costs: ``score`` (one backward pass per batch, shared by
grad_norm, snip and ZiCo) against the proxies run each on its own (each its own backward passes, as
before), side by side in one process on the same network and batches, with the values compared.

    python benchmarks/proxy_cost.py [--preset densenet_bc40_k12] [--batch 64] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
T = TypeVar("T")

from nas import PRESETS, build_model  # noqa: E402
from nas.genotype import Genotype  # noqa: E402
from nas.training import zero_cost  # noqa: E402


def each_alone(model: torch.nn.Module, genotype: Genotype, batches: list[zero_cost.Batch]) -> dict[str, float | None]:
    """Every proxy through its own function: the reference, each with the passes it needs."""
    single = ("synflow", "naswot", "grad_norm", "snip", "meco")  # one batch, each its own passes
    runs = {name: (lambda f=getattr(zero_cost, name): f(model, batches[0])) for name in single}
    runs |= {"zico": lambda: zero_cost.zico(model, batches), "nn_mass": lambda: zero_cost.nn_mass(genotype)}
    out = {}
    for name, run in runs.items():
        try:
            out[name] = run()
        except zero_cost.NotApplicable:  # e.g. NN-Mass of a clique block: null in score() too
            out[name] = None
    return out


def timed(fn: Callable[[], T], device: torch.device) -> tuple[float, T]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="densenet_bc40_k12", choices=sorted(PRESETS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    genotype = PRESETS[args.preset]
    model = build_model(genotype, num_classes=10).to(device)
    batches = [(torch.randn(args.batch, 3, 32, 32, device=device), torch.randint(0, 10, (args.batch,), device=device))
               for _ in range(2)]
    reference, shared, values = [], [], None
    for _ in range(args.repeats + 1):  # the first round warms up, untimed
        t_ref, alone = timed(lambda: each_alone(model, genotype, batches), device)
        t_new, scored = timed(lambda: zero_cost.score(model, genotype, batches), device)
        reference.append(t_ref)
        shared.append(t_new)
        values = alone, {n: s["value"] for n, s in scored.items()}
    reference, shared = reference[1:], shared[1:]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.preset}, batch {args.batch}, {where}; median of {args.repeats}")
    print(f"  each proxy alone (reference): {statistics.median(reference):.3f} s")
    print(f"  score(), shared backward:     {statistics.median(shared):.3f} s")
    print(f"  speed-up: {statistics.median(reference) / statistics.median(shared):.2f}x")
    alone, scored = values
    same_nulls = all((scored[n] is None) == (alone[n] is None) for n in alone)
    worst = max((abs(scored[n] - alone[n]) / max(abs(alone[n]), 1e-12) for n in alone
                 if scored[n] is not None and alone[n] is not None), default=0.0)
    print(f"  largest relative difference between the two routes' values: {worst:.1e}"
          + ("" if same_nulls else "; NOT the same proxies null"))


if __name__ == "__main__":
    main()
