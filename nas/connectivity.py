"""Connectivity patterns inside a block, expanded to explicit per-layer input sets.

Sources inside a block are numbered: 0 is the block input ``x_0``, ``i`` (1-based)
is the output of layer ``i``. Every named pattern expands here, and only here, to
a tuple with one entry per layer listing the sources that layer reads, in
increasing order (the order in which they are concatenated):

- ``full``      layer i reads 0..i-1 (DenseNet).
- ``nearest``   layer i reads its m nearest predecessors, {max(0, i-m), …, i-1}.
                The block input counts as a predecessor like any layer: it is read
                only by the first m layers. ``m`` equal to the block's length is
                ``full``.
- ``odd_even``  layer i reads the block input and the earlier layers of the other
                parity: {0} ∪ {j < i : j ≢ i mod 2}.
- ``clique``    stage I is ``full``; stage II (see :func:`clique_stage2_inputs`)
                recomputes layer i from the latest versions of all other layers.
- ``explicit``  the genotype lists each layer's inputs itself.

A block's output (what goes to the transition and the classifier) is the
concatenation of the block input and every layer (:func:`block_outputs`), unless an
explicit block names its own output set. A clique block sends only its stage-II
layers to the transition (:func:`transit_sources`).
"""

from __future__ import annotations

PATTERNS = ("full", "nearest", "odd_even", "clique", "explicit")


def layer_inputs(
    pattern: str,
    layers: int,
    m: int | None = None,
    inputs: tuple[tuple[int, ...], ...] | None = None,
) -> tuple[tuple[int, ...], ...]:
    """Input sources of each layer (stage I for ``clique``)."""
    if pattern in ("full", "clique"):
        return tuple(tuple(range(i)) for i in range(1, layers + 1))
    if pattern == "nearest":
        assert m is not None
        return tuple(tuple(range(max(0, i - m), i)) for i in range(1, layers + 1))
    if pattern == "odd_even":
        return tuple(
            (0,) + tuple(j for j in range(1, i) if (i - j) % 2 == 1) for i in range(1, layers + 1)
        )
    if pattern == "explicit":
        assert inputs is not None
        return inputs
    raise ValueError(f"unknown connectivity pattern {pattern!r}; expected one of {PATTERNS}")


def clique_stage2_inputs(layers: int) -> tuple[tuple[int, ...], ...]:
    """Stage-II sources of each clique layer: every other layer, never the block input.

    Source j < i refers to layer j's stage-II output (already refined in this sweep),
    source j > i to its stage-I output.
    """
    return tuple(tuple(j for j in range(1, layers + 1) if j != i) for i in range(1, layers + 1))


def block_outputs(pattern: str, layers: int, outputs: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Sources concatenated into the block feature (classifier path)."""
    if pattern == "explicit" and outputs is not None:
        return outputs
    return tuple(range(layers + 1))


def transit_sources(pattern: str, layers: int, outputs: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Sources sent through the transition to the next block."""
    if pattern == "clique":
        return tuple(range(1, layers + 1))
    return block_outputs(pattern, layers, outputs)


def connection_count(pattern: str, layers: int, m: int | None = None,
                     inputs: tuple[tuple[int, ...], ...] | None = None) -> int:
    """Number of (source → layer) connections, both stages counted for ``clique``."""
    count = sum(len(s) for s in layer_inputs(pattern, layers, m, inputs))
    if pattern == "clique":
        count += sum(len(s) for s in clique_stage2_inputs(layers))
    return count
