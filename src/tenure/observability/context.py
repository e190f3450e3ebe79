"""The request id of the work in progress, readable from any layer without passing it around.

Set by the HTTP middleware (``observability.http``) for the duration of one request, copied into
tasks the request starts (contextvars), read by the log pipeline (every line carries it) and by
``events.record.event_row`` (every outbox event remembers the request that caused it).
"""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar
from typing import Final

REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("tenure_request_id", default=None)

MAX_LENGTH: Final = 128
# What a caller's X-Request-Id may look like to be reused: ids, ULIDs, UUIDs, trace ids.
_ACCEPTED: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]*")
# A run of 13 or more digits could be a card number: never reuse (and so store) one.
_DIGITS: Final = re.compile(r"\d{13,}")


def current_request_id() -> str | None:
    return REQUEST_ID.get()


_ids: dict[int, tuple[str, itertools.count[int]]] = {}


def new_request_id() -> str:
    """``req_`` + a random per-process prefix of letters + ``_`` + a hex counter: unique across
    processes and cheap (no system call per request; ids need not be unpredictable, only
    unique). No long run of digits, so an id never looks like a card number."""
    pid = os.getpid()
    found = _ids.get(pid)
    if found is None:  # first id in this process (a forked child gets its own prefix)
        letters = "".join(chr(97 + byte % 26) for byte in os.urandom(14))
        found = _ids[pid] = (letters, itertools.count(1))
    prefix, counter = found
    return f"req_{prefix}_{next(counter):x}"


def accept_request_id(value: str | None) -> str | None:
    """The caller's id when it is safe to log, store and echo; otherwise ``None``."""
    if not value or len(value) > MAX_LENGTH or _ACCEPTED.fullmatch(value) is None:
        return None
    if _DIGITS.search(value.replace("-", "").replace(".", "")):
        return None
    return value
