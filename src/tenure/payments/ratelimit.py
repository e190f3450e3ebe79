"""A rate limiter in front of the payment provider, shared by every process.

A month-start renewal spike must queue, not exceed the provider's request limit (which would
turn into errors and unknown outcomes). Each call to the provider takes one token from a
bucket refilled at ``rate`` per second; a caller that finds it empty waits its turn.
Wall time, not business time: this is about the real provider's real limit.

Where the bucket lives decides who shares it:

- :class:`RedisLimiter` (``TENURE_REDIS_URL`` set): every API and worker process on every host
  shares one bucket, kept in Redis and timed by Redis's own clock (``TIME``).
- :class:`PostgresLimiter` (no Redis, PostgreSQL database): one row in ``rate_limits``, timed
  by the database's clock; one short statement per call.
- :class:`TokenBucket` (the embedded SQLite default): in-process; there is only one process.

The shared limiters use GCRA as a reservation: each call atomically takes the next free slot
(``tat``, the theoretical arrival time) and sleeps until it, so callers never spin and N
processes together never exceed ``rate`` (plus the initial ``burst``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from sqlalchemy import text

from tenure.db.engine import Database
from tenure.payments.ports import (
    ChargeRequest,
    ChargeResult,
    PaymentProvider,
    RefundRequest,
    RefundResult,
    StoredCard,
)


class Limiter(Protocol):
    async def acquire(self) -> float:
        """Take one token, waiting if needed; returns how long it waited (seconds)."""
        ...


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


# KEYS[1]: the bucket; ARGV: interval and burst allowance in microseconds, TTL in ms.
_GCRA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local allowance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - allowance - now
if wait < 0 then wait = 0 end
local ttl = math.floor((tat + interval - now) / 1000) + tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', ttl)
return wait
"""


def _check(rate: float, burst: int) -> None:
    if rate <= 0:
        raise ValueError("rate must be positive (operations per second)")
    if burst < 1:
        raise ValueError("burst must be at least 1")


class RedisLimiter:
    """One bucket for every process, in Redis under ``{prefix}ratelimit:{name}``."""

    def __init__(
        self,
        url: str,
        rate: float,
        *,
        burst: int = 1,
        name: str = "provider",
        prefix: str = "tenure:",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        from redis.asyncio import Redis

        _check(rate, burst)
        self.rate = rate
        self.burst = burst
        self.key = f"{prefix}ratelimit:{name}"
        self._redis: Any = Redis.from_url(url)
        self._script = self._redis.register_script(_GCRA)
        self._sleep = sleep

    async def acquire(self) -> float:
        interval = 1_000_000 / self.rate
        allowance = (self.burst - 1) * interval
        wait_us = await self._script(keys=[self.key], args=[int(interval), int(allowance), 60_000])
        wait = int(wait_us) / 1_000_000
        if wait > 0:
            await self._sleep(wait)
        return wait

    async def aclose(self) -> None:
        await self._redis.aclose()


_RESERVE_SQL: Final = text(
    """
    WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
    INSERT INTO rate_limits (name, tat)
    SELECT :name, clock.now + :interval FROM clock
    ON CONFLICT (name) DO UPDATE
        SET tat = GREATEST(rate_limits.tat, (SELECT now FROM clock)) + :interval
    RETURNING tat, (SELECT now FROM clock) AS now
    """
)


class PostgresLimiter:
    """One bucket for every process, in the ``rate_limits`` row ``name`` (PostgreSQL only)."""

    def __init__(
        self,
        database: Database,
        rate: float,
        *,
        burst: int = 1,
        name: str = "provider",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        _check(rate, burst)
        if database.dialect != "postgresql":
            raise ValueError("PostgresLimiter needs a PostgreSQL database")
        self.db = database
        self.rate = rate
        self.burst = burst
        self.name = name
        self._sleep = sleep

    async def acquire(self) -> float:
        interval = 1 / self.rate
        # Its own short transaction on the engine: never inside a caller's transaction.
        async with self.db.engine.begin() as connection:
            row = (
                await connection.execute(_RESERVE_SQL, {"name": self.name, "interval": interval})
            ).one()
        tat, now = float(row[0]), float(row[1])
        wait = max(0.0, tat - self.burst * interval - now)
        if wait > 0:
            await self._sleep(wait)
        return wait


class RateLimitedProvider:
    """Wraps any :class:`PaymentProvider`; same port, calls spaced to ``rate`` per second."""

    def __init__(self, inner: PaymentProvider, bucket: Limiter) -> None:
        self.inner = inner
        self.bucket = bucket
        self.name = inner.name

    def accepts(self, payment_method: str) -> bool:
        return self.inner.accepts(payment_method)

    async def aclose(self) -> None:
        for part in (self.inner, self.bucket):
            close = getattr(part, "aclose", None)
            if close is not None:
                await close()

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

    async def complete_authentication(
        self, idempotency_key: str, details: Mapping[str, str]
    ) -> ChargeResult | None:
        complete = getattr(self.inner, "complete_authentication", None)
        if complete is None:
            return None
        await self.bucket.acquire()
        result: ChargeResult | None = await complete(idempotency_key, details)
        return result

    async def store_method(
        self, *, customer_id: str, token: str, provider_customer: str | None
    ) -> StoredCard | None:
        store = getattr(self.inner, "store_method", None)
        if store is None:
            return None
        await self.bucket.acquire()
        stored: StoredCard = await store(
            customer_id=customer_id, token=token, provider_customer=provider_customer
        )
        return stored


def limited(
    provider: PaymentProvider,
    rate: float | None,
    *,
    database: Database | None = None,
    redis_url: str | None = None,
    prefix: str = "tenure:",
) -> PaymentProvider:
    """``provider`` behind a limiter of ``rate`` operations per second (None or 0: no limit),
    shared through Redis when ``redis_url`` is given, else through PostgreSQL when
    ``database`` is PostgreSQL, else in-process."""
    if not rate:
        return provider
    burst = max(1, int(rate))
    limiter: Limiter
    if redis_url:
        limiter = RedisLimiter(redis_url, rate, burst=burst, prefix=prefix)
    elif database is not None and database.dialect == "postgresql":
        limiter = PostgresLimiter(database, rate, burst=burst)
    else:
        limiter = TokenBucket(rate, burst=burst)
    return RateLimitedProvider(provider, limiter)
