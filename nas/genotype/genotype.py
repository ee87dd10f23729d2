"""The genotype: a frozen, plain-data description of a densely connected CNN.

A genotype is the contract between the search and everything after it: it is
saved as YAML or JSON, identified by a content hash, and turned into a model by
:func:`nas.models.build_model`. Construction validates everything, so a
``Genotype`` that exists is buildable; errors name the offending field.

Example::

    g = Genotype(
        stem=Stem("cifar", 24),
        blocks=(Block(16, 12, bottleneck=4),) * 3,
        transitions=(Transition(0.5),) * 2,
    )
    g.id, g.name   # ('3f1c…', 'c24-3xF16k12b4-t0.5')
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from nas.genotype import patterns
from nas.genotype.patterns import GenotypeError

STEMS = ("cifar", "imagenet")
CONV_TYPES = ("standard", "separable")
HEADS = ("last", "multiscale")


@dataclass(frozen=True)
class Stem:
    """``cifar``: 3×3 conv. ``imagenet``: 7×7/2 conv → BN → ReLU → 3×3/2 max-pool."""

    kind: str = "cifar"
    channels: int = 16


@dataclass(frozen=True)
class Block:
    """One dense (or clique) block.

    ``bottleneck`` b puts a 1×1 conv to b·k channels before the 3×3 conv
    (DenseNet-B); for ``clique`` it makes the pairwise filters 1×1 and adds each
    layer's own 3×3 conv (CliqueNet option B uses b = 1). ``m`` only for
    ``nearest``; ``inputs``/``outputs`` only for ``explicit`` (see
    :mod:`nas.genotype.patterns`, where each pattern's fields are defined).
    """

    layers: int
    growth: int
    pattern: str = "full"
    m: int | None = None
    inputs: tuple[tuple[int, ...], ...] | None = None
    outputs: tuple[int, ...] | None = None
    bottleneck: int | None = None
    conv: str = "standard"

    def __post_init__(self) -> None:
        # Lists from hand-written code become tuples, so blocks stay hashable.
        if isinstance(self.inputs, list):
            object.__setattr__(self, "inputs", tuple(tuple(s) for s in self.inputs))
        if isinstance(self.outputs, list):
            object.__setattr__(self, "outputs", tuple(self.outputs))

    def layer_inputs(self) -> tuple[tuple[int, ...], ...]:
        return patterns.get(self.pattern).inputs(self)

    def connections(self) -> int:
        return patterns.get(self.pattern).connections(self)

    def block_outputs(self) -> tuple[int, ...]:
        return patterns.get(self.pattern).outputs(self)

    def transit_sources(self) -> tuple[int, ...]:
        return patterns.get(self.pattern).transit(self)

    def source_channels(self, in_channels: int) -> list[int]:
        """Channel count of each source: the block input, then every layer."""
        return [in_channels] + [self.growth] * self.layers

    def feature_channels(self, in_channels: int) -> int:
        widths = self.source_channels(in_channels)
        return sum(widths[s] for s in self.block_outputs())

    def transit_channels(self, in_channels: int) -> int:
        widths = self.source_channels(in_channels)
        return sum(widths[s] for s in self.transit_sources())


@dataclass(frozen=True)
class Transition:
    """BN → ReLU → 1×1 conv to floor(θ·C) → [channel attention] → 2×2 avg-pool.

    ``attention`` is CliqueNet's option A (squeeze-and-excitation before the pool).
    """

    compression: float = 1.0
    attention: bool = False


@dataclass(frozen=True)
class Head:
    """``last``: BN → ReLU → pool of the last block (DenseNet).

    ``multiscale``: every block's feature is BN → ReLU [→ 1×1 conv to half, with
    ``compress``: CliqueNet option C] → pooled; the pooled vectors are concatenated
    into one linear classifier (CliqueNet).
    """

    kind: str = "last"
    compress: bool = False


@dataclass(frozen=True)
class Genotype:
    stem: Stem
    blocks: tuple[Block, ...]
    transitions: tuple[Transition, ...] = ()
    head: Head = field(default_factory=Head)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _validate(self)

    # ---- identity -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @cached_property
    def id(self) -> str:
        """Content hash: equal genotypes have equal ids, across processes and machines (computed once:
        a study asks for it at every bookkeeping step)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        """Short readable label for run names and plots, e.g. ``c24-3xF16k12b4-t0.5``."""
        return short_name(self)

    # ---- serialisation ------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Genotype:
        return _from_dict(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise GenotypeError(f"genotype: not valid JSON ({e})") from None
        return _from_dict(data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    @classmethod
    def from_yaml(cls, text: str) -> Genotype:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise GenotypeError(f"genotype: not valid YAML ({str(e).splitlines()[0]})") from None
        return _from_dict(data)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        text = self.to_json() if path.suffix == ".json" else self.to_yaml()
        path.write_text(text)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Genotype:
        path = Path(path)
        if not path.is_file():
            raise GenotypeError(f"genotype file {str(path)!r} does not exist; give a preset name or a YAML/JSON file")
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise GenotypeError(f"{str(path)!r} is not a text file; a genotype is a YAML or JSON file "
                                "(a checkpoint is a .pt file)") from None
        return cls.from_json(text) if path.suffix == ".json" else cls.from_yaml(text)


# ---- validation ------------------------------------------------------------------------


def _fail(where: str, message: str) -> None:
    raise GenotypeError(f"{where}: {message}")


# Far beyond any published design (DenseNet-264's largest block has 64 layers; its widest layer
# 2,688 channels), yet small enough that building a model never takes minutes or exhausts memory
# before the size is known: a typo's extra zeros are refused at once.
MAX_LAYERS = 1000
MAX_BLOCKS = 16
MAX_WIDTH = 65536


def _check_int(where: str, value: Any, low: int = 1, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(where, f"{value!r} is not an integer")
    if value < low:
        _fail(where, f"{value} must be ≥ {low}")
    if high is not None and value > high:
        _fail(where, f"{value:,} must be ≤ {high:,} (far beyond any published network; a typo?)")


def _check_choice(where: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(where, f"unknown value {value!r}; expected one of {', '.join(choices)}")


def _check_bool(where: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(where, f"{value!r} is not true/false")


def _validate_block(where: str, b: Block) -> None:
    _check_int(f"{where}.layers", b.layers, high=MAX_LAYERS)
    _check_int(f"{where}.growth", b.growth, high=MAX_WIDTH)
    _check_choice(f"{where}.pattern", b.pattern, tuple(patterns.PATTERNS))
    _check_choice(f"{where}.conv", b.conv, CONV_TYPES)
    if b.bottleneck is not None:
        _check_int(f"{where}.bottleneck", b.bottleneck, high=MAX_WIDTH // b.growth)
    patterns.get(b.pattern).check(where, b)


def _validate(g: Genotype) -> None:
    _check_choice("stem.kind", g.stem.kind, STEMS)
    _check_int("stem.channels", g.stem.channels, high=MAX_WIDTH)
    _check_choice("head.kind", g.head.kind, HEADS)
    _check_bool("head.compress", g.head.compress)
    if g.head.compress and g.head.kind != "multiscale":
        _fail("head.compress", "compression of block features needs head.kind 'multiscale'")
    if not isinstance(g.dropout, (int, float)) or isinstance(g.dropout, bool) or not 0.0 <= g.dropout < 1.0:
        _fail("dropout", f"{g.dropout!r} must be in [0, 1)")
    if not g.blocks:
        _fail("blocks", "at least one block is needed")
    if len(g.blocks) > MAX_BLOCKS:
        _fail("blocks", f"{len(g.blocks)} blocks: at most {MAX_BLOCKS} (each halves the image; a typo?)")
    if len(g.transitions) != len(g.blocks) - 1:
        _fail("transitions", f"{len(g.transitions)} given for {len(g.blocks)} blocks; give exactly {len(g.blocks) - 1} (one between consecutive blocks)")
    channels = g.stem.channels
    for i, b in enumerate(g.blocks):
        _validate_block(f"blocks[{i}]", b)
        if i < len(g.transitions):
            t, w = g.transitions[i], f"transitions[{i}]"
            theta = t.compression
            if not isinstance(theta, (int, float)) or isinstance(theta, bool) or not (0.0 < theta <= 1.0) or math.isnan(theta):
                _fail(f"{w}.compression", f"θ={theta!r} is outside (0, 1]")
            _check_bool(f"{w}.attention", t.attention)
            transit = b.transit_channels(channels)
            channels = transition_channels(transit, theta)
            if channels < 1:
                _fail(f"{w}.compression", f"θ={theta} leaves no channels out of {transit}")


def transition_channels(in_channels: int, compression: float) -> int:
    """floor(θ·C), as in the DenseNet paper and torchvision (exact for θ = 1)."""
    return in_channels if compression == 1.0 else int(math.floor(compression * in_channels))


# ---- dict conversion -------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Tuples → lists so the dict is plain JSON/YAML data."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fields(cls: type, where: str, data: Any, required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        _fail(where, f"expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        _fail(f"{where}.{unknown[0]}", f"unknown field; {cls.__name__} has {', '.join(sorted(known))}")
    for name in required:
        if name not in data:
            _fail(f"{where}.{name}", "missing required field")
    return dict(data)


def _int_tuple(where: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        _fail(where, f"expected a list of source indices, got {value!r}")
    return tuple(value)


def _as_float(where: str, value: Any) -> Any:
    """Accept ints for float fields so ``compression: 1`` and ``1.0`` hash alike."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _block_from_dict(where: str, data: Any) -> Block:
    d = _fields(Block, where, data, required=("layers", "growth"))
    if d.get("inputs") is not None:
        if not isinstance(d["inputs"], (list, tuple)):
            _fail(f"{where}.inputs", f"expected one list per layer, got {d['inputs']!r}")
        d["inputs"] = tuple(_int_tuple(f"{where}.inputs[{i}]", s) for i, s in enumerate(d["inputs"]))
    if d.get("outputs") is not None:
        d["outputs"] = _int_tuple(f"{where}.outputs", d["outputs"])
    return Block(**d)


def _from_dict(data: Any) -> Genotype:
    d = _fields(Genotype, "genotype", data, required=("stem", "blocks"))
    if not isinstance(d["blocks"], (list, tuple)):
        _fail("blocks", f"expected a list of blocks, got {type(d['blocks']).__name__}")
    transitions = d.get("transitions", [])
    if not isinstance(transitions, (list, tuple)):
        _fail("transitions", f"expected a list of transitions, got {type(transitions).__name__}")
    d["stem"] = Stem(**_fields(Stem, "stem", d["stem"]))
    d["blocks"] = tuple(_block_from_dict(f"blocks[{i}]", b) for i, b in enumerate(d["blocks"]))
    ts = []
    for i, t in enumerate(transitions):
        td = _fields(Transition, f"transitions[{i}]", t)
        if "compression" in td:
            td["compression"] = _as_float(f"transitions[{i}].compression", td["compression"])
        ts.append(Transition(**td))
    d["transitions"] = tuple(ts)
    if "head" in d:
        d["head"] = Head(**_fields(Head, "head", d["head"]))
    if "dropout" in d:
        d["dropout"] = _as_float("dropout", d["dropout"])
    return Genotype(**d)


# ---- short name ------------------------------------------------------------------------

def _block_code(b: Block) -> str:
    code = patterns.get(b.pattern).short_code(b) + f"{b.layers}k{b.growth}"
    if b.bottleneck is not None:
        code += f"b{b.bottleneck}"
    if b.conv == "separable":
        code += "s"
    return code


def _run_length(codes: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j < len(codes) and codes[j] == codes[i]:
            j += 1
        out.append(codes[i] if j - i == 1 else f"{j - i}x{codes[i]}")
        i = j
    return out


def short_name(g: Genotype) -> str:
    parts = [("c" if g.stem.kind == "cifar" else "i") + str(g.stem.channels)]
    parts += _run_length([_block_code(b) for b in g.blocks])
    thetas = sorted({t.compression for t in g.transitions})
    if thetas and thetas != [1.0]:
        parts.append("t" + ",".join(f"{t:g}" for t in thetas))
    flags = ("A" if any(t.attention for t in g.transitions) else "") + (
        "M" + ("C" if g.head.compress else "") if g.head.kind == "multiscale" else ""
    )
    if flags:
        parts.append(flags)
    if g.dropout:
        parts.append(f"d{g.dropout:g}")
    return "-".join(parts)
