"""A config group that has no class of its own, as the library receives it: a read-only mapping.

A search space's settings are one (each space reads its own keys), so every search-space module
receives this one type, whichever command parsed them."""

from __future__ import annotations

from typing import Any


class Section(dict):
    """A config group as a read-only mapping whose keys are also attributes (``s.name``, ``s["name"]``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("settings are read-only")

    __setitem__ = __delitem__ = update = pop = setdefault = clear = _refuse  # type: ignore[assignment]

    @classmethod
    def of(cls, values: Any) -> Section:
        """From a plain dict, nested dicts included."""
        return cls({k: cls.of(v) if isinstance(v, dict) else v for k, v in values.items()})
