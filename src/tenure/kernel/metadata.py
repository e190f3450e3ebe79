"""Metadata: your own string key/value pairs on customers, subscriptions and invoices.

Stripe's limits: at most 50 keys, keys up to 40 characters (no square brackets), values up to
500 characters; printable text only. On update the given keys are merged into what is stored,
and a key set to the empty string is removed. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tenure.kernel.errors import InvalidRequest

MAX_KEYS: Final = 50
MAX_KEY_LENGTH: Final = 40
MAX_VALUE_LENGTH: Final = 500


class InvalidMetadata(InvalidRequest):
    code = "invalid_metadata"


def _printable(text: str) -> bool:
    return all(ord(c) >= 0x20 and ord(c) != 0x7F for c in text)


def check(metadata: Mapping[str, str]) -> dict[str, str]:
    """``metadata`` as stored, or :class:`InvalidMetadata` naming the first problem."""
    if len(metadata) > MAX_KEYS:
        raise InvalidMetadata(f"metadata holds at most {MAX_KEYS} keys, not {len(metadata)}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidMetadata("metadata keys and values must be strings")
        if not 1 <= len(key) <= MAX_KEY_LENGTH or "[" in key or "]" in key:
            raise InvalidMetadata(
                f"metadata key {key[:50]!r} must be 1 to {MAX_KEY_LENGTH} characters, "
                "without square brackets",
                key=key[:MAX_KEY_LENGTH],
            )
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidMetadata(
                f"metadata value of {key!r} is longer than {MAX_VALUE_LENGTH} characters", key=key
            )
        if not (_printable(key) and _printable(value)):
            raise InvalidMetadata(
                f"metadata {key[:40]!r} holds control characters; printable text only", key=key
            )
    return dict(metadata)


def merge(stored: Mapping[str, str], update: Mapping[str, str]) -> dict[str, str]:
    """The stored metadata with ``update`` merged in; an empty value removes its key."""
    merged = dict(stored)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return check(merged)
