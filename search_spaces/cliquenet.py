"""CliqueNets (Yang et al. 2018) with the reference code's options A, B and C.

Uniform blocks: one layer count, growth rate and conv type for all clique blocks;
options A (attentional transitions), B (1×1 pairwise filters + a 3×3 conv per
layer) and C (block features halved before the multi-scale classifier).
"""

from __future__ import annotations

from typing import Any

from nas.checks import boolean, fraction, one_of, whole
from nas.genotype import CONV_TYPES, Block, Genotype, Head, Stem, Transition
from nas.genotype.genotype import MAX_BLOCKS, MAX_LAYERS, MAX_WIDTH
from search_spaces.choices import check_choices, check_range, check_value, check_width


def validate(cfg: Any) -> None:
    check_range(cfg, "layers", 2, MAX_LAYERS)  # stage II reads the other layers
    check_value(cfg, "blocks", whole(1, high=MAX_BLOCKS))
    check_choices(cfg, "stem_channels", whole(1, high=MAX_WIDTH))
    check_choices(cfg, "growth", whole(1, high=MAX_WIDTH))
    check_choices(cfg, "conv", one_of(*CONV_TYPES))
    check_choices(cfg, "attention", boolean)
    check_choices(cfg, "bottleneck", whole(1, optional=True))
    check_choices(cfg, "compress", boolean)
    check_choices(cfg, "compression", fraction)
    widest = max((b for b in cfg.bottleneck if b is not None), default=1)
    check_width("a bottleneck", widest * max(cfg.growth), "lower search_space.bottleneck or growth")


def suggest(trial: Any, cfg: Any) -> Genotype:
    stem = trial.suggest_categorical("stem_channels", list(cfg.stem_channels))
    layers = trial.suggest_int("layers", cfg.layers[0], cfg.layers[1])
    growth = trial.suggest_categorical("growth", list(cfg.growth))
    conv = trial.suggest_categorical("conv", list(cfg.conv))
    bottleneck = trial.suggest_categorical("bottleneck", list(cfg.bottleneck))
    compress = trial.suggest_categorical("compress", list(cfg.compress))
    transitions: tuple[Transition, ...] = ()
    if cfg.blocks > 1:
        attention = trial.suggest_categorical("attention", list(cfg.attention))
        theta = float(trial.suggest_categorical("compression", list(cfg.compression)))
        transitions = (Transition(theta, attention),) * (cfg.blocks - 1)
    block = Block(layers, growth, "clique", bottleneck=bottleneck, conv=conv)
    return Genotype(Stem("cifar", stem), (block,) * cfg.blocks, transitions, Head("multiscale", compress))


def encode(genotype: Genotype, cfg: Any) -> dict[str, Any] | None:
    blocks = genotype.blocks
    if len(blocks) != cfg.blocks or len(set(blocks)) != 1 or blocks[0].pattern != "clique":
        return None
    b = blocks[0]
    params: dict[str, Any] = {"stem_channels": genotype.stem.channels, "layers": b.layers, "growth": b.growth,
                              "conv": b.conv, "bottleneck": b.bottleneck, "compress": genotype.head.compress}
    if cfg.blocks > 1:
        params["attention"] = genotype.transitions[0].attention
        params["compression"] = genotype.transitions[0].compression
    return params
