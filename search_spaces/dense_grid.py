"""A small, enumerable space of densely connected CNNs: the one the tabular benchmark trains whole.

Every choice is shared by the three blocks (one layer count, pattern, bottleneck, conv
type and growth rate, one θ for both transitions), so the space is a grid of
``len(layers) × len(patterns) × 2 × len(conv) × len(growth) × len(compression)``
genotypes (192 with the defaults) with no conditional parameters: ``sampler=grid``
enumerates it, and every sampler sees the same parameters a table row is keyed by.
``bottleneck`` is DenseNet-B's 1×1 conv to ``bottleneck_width``·k for dense blocks and
CliqueNet's option B for clique blocks; ``nearest`` reads the ``m`` nearest predecessors.
"""

from __future__ import annotations

import itertools
from typing import Any

from nas.checks import boolean, fraction, one_of, whole
from nas.genotype import CONV_TYPES, Block, Genotype, Head, Stem, Transition, patterns
from nas.genotype.genotype import MAX_BLOCKS, MAX_LAYERS, MAX_WIDTH
from search_spaces.choices import check_choices, check_value, check_width

CLIQUE_BOTTLENECK = 1  # CliqueNet's option B


def validate(cfg: Any) -> None:
    check_value(cfg, "blocks", whole(2, high=MAX_BLOCKS))
    check_choices(cfg, "layers", whole(2, high=MAX_LAYERS))  # clique blocks need two
    check_choices(cfg, "patterns", one_of(*patterns.searchable()))
    check_value(cfg, "m", whole(1))
    check_choices(cfg, "bottleneck", boolean)
    check_value(cfg, "bottleneck_width", whole(1))
    check_choices(cfg, "conv", one_of(*CONV_TYPES))
    check_choices(cfg, "growth", whole(1, high=MAX_WIDTH))
    check_choices(cfg, "compression", fraction)
    check_value(cfg, "stem_multiplier", whole(1))
    check_width("the stem", cfg.stem_multiplier * max(cfg.growth), "lower search_space.stem_multiplier or growth")
    check_width("a bottleneck", cfg.bottleneck_width * max(cfg.growth), "lower search_space.bottleneck_width")


def grid(cfg: Any) -> dict[str, list]:
    """Every parameter's choices: the space is their product."""
    return {"layers": list(cfg.layers), "pattern": list(cfg.patterns), "bottleneck": list(cfg.bottleneck),
            "conv": list(cfg.conv), "growth": list(cfg.growth), "compression": list(cfg.compression)}


def size(cfg: Any) -> int:
    return len(list(itertools.product(*grid(cfg).values())))


def suggest(trial: Any, cfg: Any) -> Genotype:
    layers = trial.suggest_categorical("layers", list(cfg.layers))
    pattern = patterns.get(trial.suggest_categorical("pattern", list(cfg.patterns)))
    bottleneck = trial.suggest_categorical("bottleneck", list(cfg.bottleneck))
    conv = trial.suggest_categorical("conv", list(cfg.conv))
    growth = trial.suggest_categorical("growth", list(cfg.growth))
    theta = float(trial.suggest_categorical("compression", list(cfg.compression)))
    width = (CLIQUE_BOTTLENECK if pattern.two_stage else cfg.bottleneck_width) if bottleneck else None
    own = {"m": min(cfg.m, layers)} if pattern.name == "nearest" else {}
    block = Block(layers, growth, pattern.name, bottleneck=width, conv=conv, **own)
    head = Head("multiscale") if pattern.two_stage else Head()
    return Genotype(Stem("cifar", cfg.stem_multiplier * growth), (block,) * cfg.blocks,
                    (Transition(theta),) * (cfg.blocks - 1), head)


def encode(genotype: Genotype, cfg: Any) -> dict[str, Any] | None:
    """Trial parameters that reproduce ``genotype``, or None if the space cannot."""
    blocks = genotype.blocks
    if len(blocks) != cfg.blocks or len(set(blocks)) != 1 or blocks[0].pattern not in patterns.searchable():
        return None
    b = blocks[0]
    return {"layers": b.layers, "pattern": b.pattern, "bottleneck": b.bottleneck is not None, "conv": b.conv,
            "growth": b.growth, "compression": genotype.transitions[0].compression}
