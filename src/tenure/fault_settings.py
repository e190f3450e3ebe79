"""Limits and timeouts (issue 10): how long anything waits, how much a request may send.

Read from ``TENURE_*`` variables (docs/operations.md, "Timeouts and limits"); the defaults keep
every request under about five seconds when a dependency is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class FaultSettings:
    # Requests.
    max_body_bytes: int = 1_048_576  # a larger body is refused with 413 while it is read
    max_json_depth: int = 32  # deeper nesting is refused with 400 json_too_deep
    max_path_bytes: int = 2_048  # a longer path (with its query) answers 414
    max_header_bytes: int = 16_384  # all request headers together; more answers 431
    # The database: seconds to open a connection, per statement (PostgreSQL statement_timeout,
    # SQLite busy_timeout), and to wait for a pooled connection.
    db_connect_timeout: float = 3.0
    db_statement_timeout: float = 5.0
    db_pool_timeout: float = 2.0
    # Retry-After (seconds) on a 503 when the database is unreachable.
    retry_after: int = 5
    # How long an entitlement read may answer its last known value while the database is down.
    entitlements_stale_for: float = 900.0

    @classmethod
    def from_env(cls) -> FaultSettings:
        return cls(
            max_body_bytes=_int("TENURE_MAX_BODY_BYTES", cls.max_body_bytes),
            max_json_depth=_int("TENURE_MAX_JSON_DEPTH", cls.max_json_depth),
            max_path_bytes=_int("TENURE_MAX_PATH_BYTES", cls.max_path_bytes),
            max_header_bytes=_int("TENURE_MAX_HEADER_BYTES", cls.max_header_bytes),
            db_connect_timeout=_float("TENURE_DB_CONNECT_TIMEOUT", cls.db_connect_timeout),
            db_statement_timeout=_float("TENURE_DB_STATEMENT_TIMEOUT", cls.db_statement_timeout),
            db_pool_timeout=_float("TENURE_DB_POOL_TIMEOUT", cls.db_pool_timeout),
            retry_after=_int("TENURE_RETRY_AFTER", cls.retry_after),
            entitlements_stale_for=_float(
                "TENURE_ENTITLEMENTS_STALE_FOR", cls.entitlements_stale_for
            ),
        )
