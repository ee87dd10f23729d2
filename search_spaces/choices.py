"""Checks of a search space's settings, so that an impossible range is refused in one line
before any trial instead of failing every trial."""

from __future__ import annotations

from typing import Any, Callable

Check = Callable[[Any], str]  # a value → what is wrong with it ("" when nothing is)


def whole(low: int, optional: bool = False) -> Check:
    def check(v: Any) -> str:
        if optional and v is None:
            return ""
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            return f"must be a whole number ≥ {low}" + (" or null" if optional else "")
        return ""
    return check


def fraction(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
        return "must be in (0, 1]"
    return ""


def one_of(*options: Any) -> Check:
    def check(v: Any) -> str:
        return "" if any(v == o and type(v) is type(o) for o in options) else \
            f"must be one of {', '.join(map(str, options))}"
    return check


def boolean(v: Any) -> str:
    return "" if isinstance(v, bool) else "must be true or false"


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


def check_range(cfg: Any, name: str, low: int) -> tuple[int, int]:
    """``search_space.<name>``: [lo, hi] whole numbers with low ≤ lo ≤ hi."""
    values = cfg[name]
    if (not hasattr(values, "__len__") or len(values) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in values) or not low <= values[0] <= values[1]):
        raise ValueError(f"search_space.{name}={list(values) if hasattr(values, '__len__') else values!r}: "
                         f"need [low, high] whole numbers with {low} ≤ low ≤ high")
    return values[0], values[1]
