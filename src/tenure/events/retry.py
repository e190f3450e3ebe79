"""When to try a failed delivery again, and when to give up. Pure, so tests pick the numbers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped, until ``horizon`` after the first attempt.

    The webhook default (5 s, times 5, capped at 24 h, 3 days) gives roughly the Standard Webhooks
    schedule: 5 s, 25 s, 2 min, 10 min, 52 min, 4 h, 22 h, 24 h, 24 h, then dead-lettered.
    Jitter draws each delay from ``[delay * (1 - jitter), delay]`` so a receiver that comes
    back is not hit by every relay at the same second.
    """

    first: timedelta = timedelta(seconds=5)
    factor: float = 5.0
    cap: timedelta = timedelta(hours=24)
    horizon: timedelta | None = timedelta(days=3)
    jitter: float = 0.5

    def delay(self, failures: int, rng: random.Random) -> timedelta:
        """The wait after the ``failures``-th consecutive failure (1-based)."""
        raw = self.first.total_seconds() * self.factor ** max(failures - 1, 0)
        capped = min(raw, self.cap.total_seconds())
        return timedelta(seconds=capped * (1.0 - self.jitter * rng.random()))

    def next_attempt(
        self,
        *,
        failures: int,
        first_attempt_at: datetime,
        now: datetime,
        rng: random.Random,
        at_least: timedelta | None = None,
    ) -> datetime | None:
        """When to try again, or ``None`` to dead-letter. ``at_least`` honours Retry-After."""
        wait = self.delay(failures, rng)
        if at_least is not None:
            wait = max(wait, min(at_least, self.cap))
        at = now + wait
        if self.horizon is not None and at > first_attempt_at + self.horizon:
            return None
        return at


WEBHOOKS = RetryPolicy()
# A broker outage must never drop events: retry quickly, forever.
BROKER = RetryPolicy(
    first=timedelta(seconds=1), factor=2.0, cap=timedelta(seconds=30), horizon=None
)
