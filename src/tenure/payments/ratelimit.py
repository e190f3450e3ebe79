"""A rate limiter in front of the payment provider.

A month-start renewal spike must queue, not exceed the provider's request limit (which would
turn into errors and unknown outcomes). Each call to ``charge`` or ``lookup`` takes one token
from a bucket refilled at ``rate`` per second; a caller that finds it empty waits its turn.
Wall time (monotonic), not business time: this is about the real provider's real limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tenure.payments.ports import (
    ChargeRequest,
    ChargeResult,
    PaymentProvider,
    RefundRequest,
    RefundResult,
)


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (operations per second)")
        self.rate = rate
        self.burst = max(1, burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._updated = monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        """Take one token, waiting if needed; returns how long it waited (seconds)."""
        waited = 0.0
        async with self._lock:  # callers are served in arrival order
            while True:
                now = self._monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                # The tolerance keeps float rounding (0.2 s x 5/s = 0.999...) from spinning.
                if self._tokens >= 1 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                delay = (1 - self._tokens) / self.rate
                waited += delay
                await self._sleep(delay)


class RateLimitedProvider:
    """Wraps any :class:`PaymentProvider`; same port, calls spaced to ``rate`` per second."""

    def __init__(self, inner: PaymentProvider, bucket: TokenBucket) -> None:
        self.inner = inner
        self.bucket = bucket
        self.name = inner.name

    def accepts(self, payment_method: str) -> bool:
        return self.inner.accepts(payment_method)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        await self.bucket.acquire()
        return await self.inner.charge(request)

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        await self.bucket.acquire()
        return await self.inner.lookup(idempotency_key)

    def accepted_hint(self) -> str:
        return self.inner.accepted_hint()

    async def refund(self, request: RefundRequest) -> RefundResult:
        await self.bucket.acquire()
        return await self.inner.refund(request)

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None:
        await self.bucket.acquire()
        return await self.inner.lookup_refund(idempotency_key)


def limited(provider: PaymentProvider, rate: float | None) -> PaymentProvider:
    """``provider`` behind a limiter of ``rate`` operations per second (None or 0: no limit)."""
    if not rate:
        return provider
    return RateLimitedProvider(provider, TokenBucket(rate, burst=max(1, int(rate))))
