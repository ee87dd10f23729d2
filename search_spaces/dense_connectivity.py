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

from nas.checks import fraction, one_of, whole
from nas.genotype import CONV_TYPES, STEMS, Block, Genotype, Head, Stem, Transition, patterns
from nas.genotype.genotype import MAX_BLOCKS, MAX_LAYERS, MAX_WIDTH
from search_spaces.choices import check_choices, check_range, check_value, check_width


def validate(cfg: Any) -> None:
    low, _ = check_range(cfg, "layers", 1, MAX_LAYERS)
    check_choices(cfg, "patterns", one_of(*patterns.searchable()))
    for name in cfg.patterns:
        need = patterns.get(name).min_layers
        if low < need:
            raise ValueError(f"search_space.layers: {name} blocks need at least {need} layers; "
                             f"raise the lower bound to {need}")
    check_value(cfg, "blocks", whole(1, high=MAX_BLOCKS))
    check_value(cfg, "layers_step", whole(1))
    check_value(cfg, "stem_multiplier", whole(1))
    check_value(cfg, "stem", one_of(*STEMS))
    check_range(cfg, "m", 1)
    check_choices(cfg, "growth", whole(1, high=MAX_WIDTH))
    check_choices(cfg, "growth_schedule", one_of("constant", "double"))
    check_choices(cfg, "bottleneck", whole(1, optional=True))
    check_choices(cfg, "clique_bottleneck", whole(1, optional=True))
    check_choices(cfg, "conv", one_of(*CONV_TYPES))
    check_choices(cfg, "compression", fraction)
    top = max(cfg.growth) * (2 ** (cfg.blocks - 1) if "double" in cfg.growth_schedule else 1)
    check_width("the widest growth rate", top, "lower search_space.growth or use growth_schedule=[constant]")
    check_width("the stem", cfg.stem_multiplier * max(cfg.growth), "lower search_space.stem_multiplier or growth")
    widest = max((b for b in [*cfg.bottleneck, *cfg.clique_bottleneck] if b is not None), default=1)
    check_width("a bottleneck", widest * top, "lower search_space.bottleneck or growth")


def suggest(trial: Any, cfg: Any) -> Genotype:
    growth = trial.suggest_categorical("growth", list(cfg.growth))
    schedule = trial.suggest_categorical("growth_schedule", list(cfg.growth_schedule))
    theta = float(trial.suggest_categorical("compression", list(cfg.compression))) if cfg.blocks > 1 else 1.0
    blocks = []
    for i in range(1, cfg.blocks + 1):
        p = f"block{i}."
        layers = trial.suggest_int(p + "layers", cfg.layers[0], cfg.layers[1], step=cfg.layers_step)
        pattern = patterns.get(trial.suggest_categorical(p + "pattern", list(cfg.patterns)))
        own = pattern.suggest(trial, p, cfg, layers)
        bottleneck = trial.suggest_categorical(p + pattern.bottleneck_key, list(cfg[pattern.bottleneck_key]))
        conv = trial.suggest_categorical(p + "conv", list(cfg.conv))
        k = growth * 2 ** (i - 1) if schedule == "double" else growth
        blocks.append(Block(layers, k, pattern.name, bottleneck=bottleneck, conv=conv, **own))
    head = Head("multiscale") if all(patterns.get(b.pattern).two_stage for b in blocks) else Head()
    return Genotype(Stem(cfg.stem, cfg.stem_multiplier * growth), tuple(blocks),
                    (Transition(theta),) * (cfg.blocks - 1), head)


def encode(genotype: Genotype, cfg: Any) -> dict[str, Any] | None:
    """Trial parameters that reproduce ``genotype``, or None if the space cannot."""
    blocks = genotype.blocks
    if len(blocks) != cfg.blocks or any(b.pattern not in patterns.searchable() for b in blocks):
        return None
    growth = blocks[0].growth
    schedule = "double" if len(blocks) > 1 and blocks[1].growth == 2 * growth else "constant"
    params: dict[str, Any] = {"growth": growth, "growth_schedule": schedule}
    if cfg.blocks > 1:
        params["compression"] = genotype.transitions[0].compression
    for i, b in enumerate(blocks, start=1):
        p = f"block{i}."
        params[p + "layers"] = b.layers
        pattern = patterns.get(b.pattern)
        params[p + "pattern"] = b.pattern
        params.update(pattern.encode(b, p))
        params[p + pattern.bottleneck_key] = b.bottleneck
        params[p + "conv"] = b.conv
    return params
