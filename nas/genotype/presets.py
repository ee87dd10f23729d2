"""The published architectures as genotypes: the baselines a search must beat.

Rules from the papers (Huang et al. 2017; Yang et al. 2018), not tuned numbers:
CIFAR DenseNet has a 16-channel 3×3 stem, three blocks of (L−4)/3 layers and no
compression; DenseNet-BC has a 2k-channel stem, (L−4)/6 bottleneck (b = 4)
layers per block and θ = 0.5; the ImageNet models use the 7×7/2 stem with 2k
channels, k = 32, b = 4, θ = 0.5; CliqueNet (CIFAR, no options) has a 64-channel
stem, three clique blocks of T/3 layers, channel-keeping transitions and the
multi-scale classifier.
"""

from __future__ import annotations

from pathlib import Path

from nas.genotype import Block, Genotype, GenotypeError, Head, Stem, Transition


def cifar_densenet(depth: int, growth: int) -> Genotype:
    if (depth - 4) % 3:
        raise ValueError(f"DenseNet depth {depth}: (depth − 4) must be divisible by 3")
    n = (depth - 4) // 3
    return Genotype(Stem("cifar", 16), (Block(n, growth),) * 3, (Transition(1.0),) * 2)


def cifar_densenet_bc(depth: int, growth: int) -> Genotype:
    if (depth - 4) % 6:
        raise ValueError(f"DenseNet-BC depth {depth}: (depth − 4) must be divisible by 6")
    n = (depth - 4) // 6
    return Genotype(Stem("cifar", 2 * growth), (Block(n, growth, bottleneck=4),) * 3, (Transition(0.5),) * 2)


def imagenet_densenet(block_layers: tuple[int, ...], growth: int = 32) -> Genotype:
    blocks = tuple(Block(n, growth, bottleneck=4) for n in block_layers)
    return Genotype(Stem("imagenet", 2 * growth), blocks, (Transition(0.5),) * (len(blocks) - 1))


def cifar_cliquenet(growth: int, total_layers: int) -> Genotype:
    if total_layers % 3:
        raise ValueError(f"CliqueNet T={total_layers}: T must be divisible by 3 (three blocks)")
    block = Block(total_layers // 3, growth, pattern="clique")
    return Genotype(Stem("cifar", 64), (block,) * 3, (Transition(1.0),) * 2, Head("multiscale"))


PRESETS: dict[str, Genotype] = {
    "densenet40_k12": cifar_densenet(40, 12),
    "densenet100_k12": cifar_densenet(100, 12),
    "densenet100_k24": cifar_densenet(100, 24),
    "densenet_bc40_k12": cifar_densenet_bc(40, 12),
    "densenet_bc100_k12": cifar_densenet_bc(100, 12),
    "densenet_bc250_k24": cifar_densenet_bc(250, 24),
    "densenet_bc190_k40": cifar_densenet_bc(190, 40),
    "densenet121": imagenet_densenet((6, 12, 24, 16)),
    "densenet169": imagenet_densenet((6, 12, 32, 32)),
    "densenet201": imagenet_densenet((6, 12, 48, 32)),
    "cliquenet_k36_t12": cifar_cliquenet(36, 12),
    "cliquenet_k64_t15": cifar_cliquenet(64, 15),
}


def resolve(spec: str | Path) -> Genotype:
    """A preset name, or the path of a YAML/JSON genotype file."""
    if spec is None or not str(spec).strip():
        raise GenotypeError(f"genotype is empty; give a preset ({', '.join(PRESETS)}) or a YAML/JSON genotype file")
    if str(spec) in PRESETS:
        return PRESETS[str(spec)]
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        return Genotype.load(path)
    raise GenotypeError(
        f"genotype {str(spec)!r} is neither a preset nor a file; presets: {', '.join(PRESETS)}"
    )
