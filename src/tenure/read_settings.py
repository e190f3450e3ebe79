"""How the API process serves the hot entitlement reads (issue 17): the cache's bounds and the
garbage collector's tuning. Read from ``TENURE_*`` variables (docs/operations.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass

# gc.set_threshold for the API's workers (gen0, gen1, gen2). Python's default (700, 10, 10)
# runs a young collection every 700 net allocations of container objects, which a burst of
# requests reaches every few milliseconds; docs/performance.md ("Issue 17 levers") has the
# measurement behind this choice.
GC_THRESHOLD = (50_000, 20, 100)


def _threshold(text: str | None) -> tuple[int, int, int]:
    if not text:
        return GC_THRESHOLD
    parts = [int(part) for part in text.replace(" ", "").split(",")]
    if len(parts) != 3 or parts[0] < 1 or min(parts) < 0:
        raise ValueError(
            f"TENURE_GC_THRESHOLD: {text!r} is not three numbers gen0,gen1,gen2 (gen0 >= 1)"
        )
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class ReadSettings:
    cache_entries: int = 100_000  # customers the entitlement cache keeps (fresh or last known)
    cache_bytes: int = 64 * 1024 * 1024  # and the bytes they may hold (read.View.size)
    gc_freeze: bool = True  # gc.freeze() once start-up is done: later collections skip it all
    gc_threshold: tuple[int, int, int] = GC_THRESHOLD

    def __post_init__(self) -> None:
        if self.cache_entries < 1 or self.cache_bytes < 1:
            raise ValueError(
                "TENURE_ENTITLEMENT_CACHE_ENTRIES and TENURE_ENTITLEMENT_CACHE_BYTES must be "
                "at least 1"
            )

    @classmethod
    def from_env(cls) -> ReadSettings:
        env = os.environ
        return cls(
            cache_entries=int(env.get("TENURE_ENTITLEMENT_CACHE_ENTRIES") or cls.cache_entries),
            cache_bytes=int(env.get("TENURE_ENTITLEMENT_CACHE_BYTES") or cls.cache_bytes),
            gc_freeze=(env.get("TENURE_GC_FREEZE") or "true").strip().lower()
            not in ("0", "false", "no", "off"),
            gc_threshold=_threshold(env.get("TENURE_GC_THRESHOLD")),
        )
