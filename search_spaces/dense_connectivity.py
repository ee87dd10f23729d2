"""Densely connected CNNs with a searched connectivity pattern per block.

Per block: layers, pattern (full / nearest-m / odd_even / clique), m (nearest
only), bottleneck width (``bottleneck`` for dense blocks, ``clique_bottleneck``
for clique blocks: the two mean different things), conv type. Shared: growth
rate of the first block and its schedule (constant, or doubled after each
down-sampling), compression θ of the transitions. The stem has
``stem_multiplier × k`` channels; the head is CliqueNet's multi-scale classifier
when every block is a clique block, DenseNet's otherwise.
"""

from __future__ import annotations

from typing import Any

from nas.genotype import Block, Genotype, Head, Stem, Transition


def validate(cfg: Any) -> None:
    low, high = cfg.layers
    if not 1 <= low <= high:
        raise ValueError(f"search_space.layers={list(cfg.layers)}: need 1 ≤ low ≤ high")
    if "clique" in cfg.patterns and low < 2:
        raise ValueError("search_space.layers: clique blocks need at least 2 layers; raise the lower bound to 2")
    unknown = set(cfg.patterns) - {"full", "nearest", "odd_even", "clique"}
    if unknown:
        raise ValueError(f"search_space.patterns: unknown {sorted(unknown)}; use full, nearest, odd_even, clique")
    if cfg.blocks < 1:
        raise ValueError(f"search_space.blocks={cfg.blocks}: need at least one block")
    if not 1 <= cfg.m[0] <= cfg.m[1]:
        raise ValueError(f"search_space.m={list(cfg.m)}: need 1 ≤ low ≤ high")


def suggest(trial: Any, cfg: Any) -> Genotype:
    growth = trial.suggest_categorical("growth", list(cfg.growth))
    schedule = trial.suggest_categorical("growth_schedule", list(cfg.growth_schedule))
    theta = float(trial.suggest_categorical("compression", list(cfg.compression))) if cfg.blocks > 1 else 1.0
    blocks = []
    for i in range(1, cfg.blocks + 1):
        p = f"block{i}."
        layers = trial.suggest_int(p + "layers", cfg.layers[0], cfg.layers[1], step=cfg.layers_step)
        pattern = trial.suggest_categorical(p + "pattern", list(cfg.patterns))
        m = min(trial.suggest_int(p + "m", cfg.m[0], cfg.m[1]), layers) if pattern == "nearest" else None
        if pattern == "clique":
            bottleneck = trial.suggest_categorical(p + "clique_bottleneck", list(cfg.clique_bottleneck))
        else:
            bottleneck = trial.suggest_categorical(p + "bottleneck", list(cfg.bottleneck))
        conv = trial.suggest_categorical(p + "conv", list(cfg.conv))
        k = growth * 2 ** (i - 1) if schedule == "double" else growth
        blocks.append(Block(layers, k, pattern, m=m, bottleneck=bottleneck, conv=conv))
    head = Head("multiscale") if all(b.pattern == "clique" for b in blocks) else Head()
    return Genotype(Stem(cfg.stem, cfg.stem_multiplier * growth), tuple(blocks),
                    (Transition(theta),) * (cfg.blocks - 1), head)


def encode(genotype: Genotype, cfg: Any) -> dict[str, Any] | None:
    """Trial parameters that reproduce ``genotype``, or None if the space cannot."""
    blocks = genotype.blocks
    if len(blocks) != cfg.blocks or any(b.pattern not in ("full", "nearest", "odd_even", "clique") for b in blocks):
        return None
    growth = blocks[0].growth
    schedule = "double" if len(blocks) > 1 and blocks[1].growth == 2 * growth else "constant"
    params: dict[str, Any] = {"growth": growth, "growth_schedule": schedule}
    if cfg.blocks > 1:
        params["compression"] = genotype.transitions[0].compression
    for i, b in enumerate(blocks, start=1):
        p = f"block{i}."
        params[p + "layers"] = b.layers
        params[p + "pattern"] = b.pattern
        if b.pattern == "nearest":
            params[p + "m"] = b.m
        params[p + ("clique_bottleneck" if b.pattern == "clique" else "bottleneck")] = b.bottleneck
        params[p + "conv"] = b.conv
    return params
