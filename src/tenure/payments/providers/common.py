"""What both adapters share: bounded timeouts and ``Retry-After``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

# A provider call never waits longer than this, whatever is configured.
MAX_TIMEOUT: Final = 60.0
MIN_TIMEOUT: Final = 0.05


def bounded_timeout(seconds: float) -> float:
    if seconds != seconds:  # NaN
        raise ValueError("timeout must be a number of seconds")
    return min(MAX_TIMEOUT, max(MIN_TIMEOUT, seconds))


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped at 1 h."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, 3600.0))
