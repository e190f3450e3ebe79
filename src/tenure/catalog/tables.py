"""Reading hand-edited TOML tables: every problem is collected (named by file and entry, with a
hint for a misspelt key) instead of stopping at the first; shared by the catalog's parsers."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard, TypeVar

_T = TypeVar("_T")
_EXPECTED: dict[type, str] = {str: "a non-empty string", bool: "true or false", int: "an integer"}
# tomllib yields exactly these types, plus date/time ones.
_KIND_NAMES: dict[type, str] = {
    bool: "a boolean", int: "an integer", float: "a float", str: "a string", dict: "a table",
    list: "an array",
}  # fmt: skip


def kind_of(value: object) -> str:
    if isinstance(value, str) and not value.strip():
        return "a blank string"
    return _KIND_NAMES.get(type(value), "a date/time")


class Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, entry: str, message: str) -> None:
        self.items.append(f"{self.source}: {entry}: {message}")


class Table:
    """One TOML table. Accessors record a problem and return None instead of raising, so the
    rest of the file is still checked; None then means "already reported, skip dependants"."""

    def __init__(
        self, problems: Problems, entry: str, raw: Mapping[str, Any], allowed: tuple[str, ...]
    ) -> None:
        self.problems = problems
        self.entry = entry
        self.raw = raw
        for key in raw:
            if key not in allowed:
                self.problem(unknown_key(key, allowed))

    def problem(self, message: str) -> None:
        self.problems.add(self.entry, message)

    def get(self, key: str, kind: type[_T], default: _T | None = None) -> _T | None:
        """``raw[key]`` if it is a ``kind``; a missing key is a problem only without a default."""
        value = self.raw.get(key)
        if value is None:
            if default is None:
                self.problem(f'missing required key "{key}"')
            return default
        if is_a(value, kind):
            return value
        self.problem(f"{key} must be {_EXPECTED.get(kind, 'a table')}, not {kind_of(value)}")
        return None

    def integer(
        self, key: str, low: int, high: int | None, default: int | None = None
    ) -> int | None:
        value = self.get(key, int, default)
        if value is None or (low <= value and (high is None or value <= high)):
            return value
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        self.problem(f"{key} must be {bounds}, not {value}")
        return None


def is_a(value: object, kind: type[_T]) -> TypeGuard[_T]:
    if isinstance(value, bool) and kind is not bool:
        return False  # TOML's true is a Python int, but never a valid count
    if isinstance(value, str) and not value.strip():
        return False
    return isinstance(value, kind)


def unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f'did you mean "{close[0]}"?' if close else f"allowed keys: {', '.join(allowed)}"
    return f'unknown key "{key}" ({hint})'


@dataclass(frozen=True, slots=True)
class References:
    """What a plan may point at; taken from the raw file so that a product or market with an
    unrelated problem of its own does not also turn every plan using it into a problem."""

    products: Mapping[str, Any]
    currencies: Mapping[str, str | None]
