"""Prefixed, time-sortable identifiers: ``cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA``.

26 Crockford base32 characters, 48 bits of millisecond time then 80 random bits (ULID layout),
so ids sort roughly by creation and cursors can page by id.
"""

from __future__ import annotations

import os
import re
import time
from typing import Final

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY: Final = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")

PREFIXES: Final[frozenset[str]] = frozenset(
    {"clock", "cus", "sub", "in", "il", "pa", "evt", "key", "ch", "hh", "hhm", "grt", "aud"}
)


# Two characters (10 bits) per lookup: 13 lookups per id instead of 26 big-integer divisions.
_PAIRS: Final = tuple(first + second for first in _ALPHABET for second in _ALPHABET)
_SHIFTS: Final = tuple(range(120, -1, -10))


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return prefix + "_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def is_valid_id(value: str, prefix: str) -> bool:
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and bool(_BODY.fullmatch(body))
