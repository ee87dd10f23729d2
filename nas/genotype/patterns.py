"""Connectivity patterns inside a block: each one defined once, in one class.

Sources inside a block are numbered: 0 is the block input ``x_0``, ``i`` (1-based)
is the output of layer ``i``. A pattern says, in one place, everything the rest of
the code needs from it: which sources each layer reads (in concatenation order),
what the block hands to the classifier and to the transition, which genotype
fields it takes and how they are validated, its code in short genotype names, and
the extra parameters a search space suggests for it. Adding a pattern means adding
a class here and an entry in :data:`PATTERNS`:

- ``full``      layer i reads 0..i-1 (DenseNet).
- ``nearest``   layer i reads its m nearest predecessors, {max(0, i-m), …, i-1}.
                The block input counts as a predecessor like any layer: it is read
                only by the first m layers. ``m`` equal to the block's length is ``full``.
- ``odd_even``  layer i reads the block input and the earlier layers of the other
                parity: {0} ∪ {j < i : j ≢ i mod 2}.
- ``clique``    stage I is ``full``; stage II (:meth:`Clique.stage2_inputs`) recomputes
                layer i from the latest versions of all other layers (CliqueNet).
- ``explicit``  the genotype lists each layer's inputs (and optionally the block's
                outputs) itself; what pruning produces.
"""

from __future__ import annotations

from typing import Any, Protocol


class GenotypeError(ValueError):
    """A genotype field has a bad value; the message names the field and the fix."""


class BlockFields(Protocol):
    """The block fields a pattern reads (:class:`nas.genotype.Block` has them)."""

    layers: int
    m: int | None
    inputs: tuple[tuple[int, ...], ...] | None
    outputs: tuple[int, ...] | None


def _full(layers: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(range(i)) for i in range(1, layers + 1))


class Pattern:
    """A pattern without fields of its own; subclasses override what differs."""

    name = ""
    code = ""
    two_stage = False  # built as a clique block: stage II refines every layer
    min_layers = 1
    searchable = True  # offered by the search spaces' ``patterns`` lists
    bottleneck_key = "bottleneck"  # search-space setting (and trial parameter) for its bottleneck
    fields: tuple[str, ...] = ()  # optional Block fields this pattern takes

    def inputs(self, b: BlockFields) -> tuple[tuple[int, ...], ...]:
        raise NotImplementedError

    def outputs(self, b: BlockFields) -> tuple[int, ...]:
        """Sources concatenated into the block feature (classifier path)."""
        return tuple(range(b.layers + 1))

    def transit(self, b: BlockFields) -> tuple[int, ...]:
        """Sources sent through the transition to the next block."""
        return self.outputs(b)

    def connections(self, b: BlockFields) -> int:
        return sum(len(s) for s in self.inputs(b))

    def short_code(self, b: BlockFields) -> str:
        return self.code

    def check(self, where: str, b: BlockFields) -> None:
        """Raise :class:`GenotypeError` naming the field when ``b`` is not a valid block of this pattern."""
        if b.layers < self.min_layers:
            raise GenotypeError(f"{where}.layers: a {self.name} block needs at least {self.min_layers} layers")
        for name in ("m", "inputs", "outputs"):
            if name not in self.fields and getattr(b, name) is not None:
                owner = next(p.name for p in PATTERNS.values() if name in p.fields)
                raise GenotypeError(f"{where}.{name}: only pattern {owner!r} takes {name}, not {self.name!r}; "
                                    "remove it")

    def suggest(self, trial: Any, prefix: str, cfg: Any, layers: int) -> dict[str, Any]:
        """This pattern's own Block fields, drawn from a search space's settings ``cfg``."""
        return {}

    def encode(self, b: BlockFields, prefix: str) -> dict[str, Any]:
        """The trial parameters :meth:`suggest` turns back into ``b``'s own fields."""
        return {}


class Full(Pattern):
    name, code = "full", "F"

    def inputs(self, b: BlockFields) -> tuple[tuple[int, ...], ...]:
        return _full(b.layers)


class Nearest(Pattern):
    name, code = "nearest", "N"
    fields = ("m",)

    def inputs(self, b: BlockFields) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(range(max(0, i - b.m), i)) for i in range(1, b.layers + 1))

    def short_code(self, b: BlockFields) -> str:
        return f"N{b.m}:"

    def check(self, where: str, b: BlockFields) -> None:
        super().check(where, b)
        if b.m is None:
            raise GenotypeError(f"{where}.m: pattern 'nearest' needs m (how many predecessors each layer reads)")
        if not isinstance(b.m, int) or isinstance(b.m, bool):
            raise GenotypeError(f"{where}.m: {b.m!r} is not an integer")
        if not 1 <= b.m <= b.layers:
            raise GenotypeError(f"{where}.m: {b.m} is larger than the block ({b.layers} layers); "
                                f"choose 1 ≤ m ≤ {b.layers}" if b.m > b.layers else f"{where}.m: {b.m} must be ≥ 1")

    def suggest(self, trial: Any, prefix: str, cfg: Any, layers: int) -> dict[str, Any]:
        return {"m": min(trial.suggest_int(prefix + "m", cfg.m[0], cfg.m[1]), layers)}

    def encode(self, b: BlockFields, prefix: str) -> dict[str, Any]:
        return {prefix + "m": b.m}


class OddEven(Pattern):
    name, code = "odd_even", "OE"

    def inputs(self, b: BlockFields) -> tuple[tuple[int, ...], ...]:
        return tuple((0,) + tuple(j for j in range(1, i) if (i - j) % 2 == 1) for i in range(1, b.layers + 1))


class Clique(Pattern):
    name, code = "clique", "Q"
    two_stage = True
    min_layers = 2  # stage II reads the other layers
    bottleneck_key = "clique_bottleneck"  # 1 is CliqueNet's option B: 1×1 pairwise filters + a 3×3 per layer

    def inputs(self, b: BlockFields) -> tuple[tuple[int, ...], ...]:
        return _full(b.layers)  # stage I

    @staticmethod
    def stage2_inputs(layers: int) -> tuple[tuple[int, ...], ...]:
        """Stage-II sources of each layer: every other layer, never the block input.

        Source j < i is layer j's stage-II output (already refined in this sweep),
        source j > i its stage-I output.
        """
        return tuple(tuple(j for j in range(1, layers + 1) if j != i) for i in range(1, layers + 1))

    def transit(self, b: BlockFields) -> tuple[int, ...]:
        return tuple(range(1, b.layers + 1))  # the stage-II layers, without x_0

    def connections(self, b: BlockFields) -> int:
        return super().connections(b) + sum(len(s) for s in self.stage2_inputs(b.layers))


class Explicit(Pattern):
    name, code = "explicit", "X"
    searchable = False  # produced by pruning, not drawn
    fields = ("inputs", "outputs")

    def inputs(self, b: BlockFields) -> tuple[tuple[int, ...], ...]:
        return b.inputs

    def outputs(self, b: BlockFields) -> tuple[int, ...]:
        return b.outputs if b.outputs is not None else super().outputs(b)

    def check(self, where: str, b: BlockFields) -> None:
        super().check(where, b)
        if b.inputs is None:
            raise GenotypeError(f"{where}.inputs: pattern 'explicit' needs inputs: one list of source indices per layer")
        if len(b.inputs) != b.layers:
            raise GenotypeError(f"{where}.inputs: has {len(b.inputs)} entries for {b.layers} layers; give one per layer")
        used: set[int] = set()
        for i, sources in enumerate(b.inputs, start=1):
            w = f"{where}.inputs[{i - 1}]"
            if not sources:
                raise GenotypeError(f"{w}: layer {i} reads nothing; give at least one source in 0..{i - 1}")
            for s in sources:
                _check_index(w, s)
                if s >= i:
                    raise GenotypeError(f"{w}: input index {s} does not exist for layer {i}; "
                                        f"sources are 0 (block input) .. {i - 1}")
            if list(sources) != sorted(set(sources)):
                raise GenotypeError(f"{w}: {list(sources)} must be increasing without repeats")
            used.update(sources)
        outputs = self.outputs(b)
        for s in outputs:
            _check_index(f"{where}.outputs", s)
            if s > b.layers:
                raise GenotypeError(f"{where}.outputs: output index {s} does not exist; sources are 0 .. {b.layers}")
        if list(outputs) != sorted(set(outputs)):
            raise GenotypeError(f"{where}.outputs: {list(outputs)} must be increasing without repeats")
        used.update(outputs)
        dead = [i for i in range(1, b.layers + 1) if i not in used]
        if dead:
            raise GenotypeError(f"{where}.inputs: layer {dead[0]}'s output is never used "
                                "(no later layer reads it and it is not an output)")


def _check_index(where: str, s: Any) -> None:
    if not isinstance(s, int) or isinstance(s, bool):
        raise GenotypeError(f"{where}: {s!r} is not an integer")
    if s < 0:
        raise GenotypeError(f"{where}: {s} must be ≥ 0")


PATTERNS: dict[str, Pattern] = {p.name: p for p in (Full(), Nearest(), OddEven(), Clique(), Explicit())}


def get(name: str) -> Pattern:
    if name not in PATTERNS:
        raise GenotypeError(f"unknown pattern {name!r}; expected one of {', '.join(PATTERNS)}")
    return PATTERNS[name]


def searchable() -> tuple[str, ...]:
    return tuple(name for name, p in PATTERNS.items() if p.searchable)
