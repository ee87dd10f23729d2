"""Checks of a search space's settings, so that an impossible range is refused in one line
before any trial instead of failing every trial."""

from __future__ import annotations

from typing import Any

from nas.checks import Check


def check_choices(cfg: Any, name: str, check: Check) -> None:
    """``search_space.<name>``: a non-empty list whose every value passes ``check``."""
    values = cfg[name]
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
        raise ValueError(f"search_space.{name}={values!r}: give a non-empty list of choices, e.g. "
                         f"'search_space.{name}=[…]'")
    for v in values:
        problem = check(v)
        if problem:
            raise ValueError(f"search_space.{name}={list(values)}: {v!r} {problem}")


def check_value(cfg: Any, name: str, check: Check) -> None:
    problem = check(cfg[name])
    if problem:
        raise ValueError(f"search_space.{name}={cfg[name]!r}: {problem}")


def check_range(cfg: Any, name: str, low: int, high: int | None = None) -> tuple[int, int]:
    """``search_space.<name>``: [lo, hi] whole numbers with low ≤ lo ≤ hi (≤ high)."""
    values = cfg[name]
    bound = "" if high is None else f" ≤ {high:,}"
    if (not hasattr(values, "__len__") or len(values) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in values) or not low <= values[0] <= values[1]
            or (high is not None and values[1] > high)):
        raise ValueError(f"search_space.{name}={list(values) if hasattr(values, '__len__') else values!r}: "
                         f"need [low, high] whole numbers with {low} ≤ low ≤ high{bound}")
    return values[0], values[1]


def check_width(what: str, width: int, fix: str) -> None:
    """A layer width the space can reach (a product of its choices) within the genotype's bound."""
    from nas.genotype.genotype import MAX_WIDTH

    if width > MAX_WIDTH:
        raise ValueError(f"search_space: {what} reaches {width:,} channels, over {MAX_WIDTH:,} "
                         f"(far beyond any published network); {fix}")
