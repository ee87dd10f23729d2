"""Checks of setting values, shared by every group that reads one: each says what is wrong
with a value (or "" when nothing is), and :func:`require` turns that into the one-line error."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, TypeVar

Check = Callable[[Any], str]  # a value → what is wrong with it ("" when nothing is)


def whole(low: int, optional: bool = False, high: int | None = None) -> Check:
    def check(v: Any) -> str:
        if optional and v is None:
            return ""
        if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
            return (f"must be a whole number ≥ {low}" + (f" and ≤ {high:,}" if high is not None else "")
                    + (" or null" if optional else ""))
        return ""
    return check


def number(ok: Callable[[float], bool], meaning: str, optional: bool = False) -> Check:
    """A real number (not a bool, not NaN) for which ``ok`` holds; ``meaning`` says which."""
    def check(v: Any) -> str:
        if optional and v is None:
            return ""
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or not ok(v):
            return meaning
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


def require(name: str, value: Any, check: Check, *, error: type[ValueError] = ValueError, hint: str = "",
            show: Callable[[Any], str] = repr) -> None:
    """Raise ``error("<name>=<value>: <problem><hint>")`` when ``check`` finds a problem."""
    problem = check(value)
    if problem:
        raise error(f"{name}={show(value)}: {problem}{hint}")


T = TypeVar("T")


def registered(table: Mapping[str, T], name: Any, setting: str, kind: str) -> T:
    """The entry ``name`` of a registry (samplers, schedulers, protocols, evaluators, proxies); an
    unknown name is refused in one line that lists the registered ones."""
    if isinstance(name, str) and name in table:
        return table[name]
    raise ValueError(f"{setting}={name}: unknown {kind}; choose one of {', '.join(table)}")
