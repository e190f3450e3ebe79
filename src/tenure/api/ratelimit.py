"""Request rate limits per caller (API key or end user) and route class, answered before any
work: 429 with ``Retry-After``, and ``RateLimit-Limit``/``-Remaining``/``-Reset`` on every
limited response (draft-ietf-httpapi-ratelimit-headers).

Each (class, caller) pair has a GCRA bucket: ``rate`` requests per second on average, up to
``burst`` at once. A refused request takes nothing from the budget. The bucket lives
in-process (the embedded default: one process) or, when ``TENURE_REDIS_URL`` is set, in Redis,
timed by Redis's clock, so every process shares one budget (the same approach as the
provider limiter in payments/ratelimit.py). One Redis round trip per limited request; no
database work, so the entitlement read path keeps its speed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

ROUTE_CLASSES: Final = ("entitlements", "read", "write", "me")
# Production defaults (``tenure serve``); TENURE_RATE_LIMITS overrides, "off" disables.
# Entitlement reads are what every other service calls on every request: their default is a
# ceiling against a runaway client, not a budget.
DEFAULTS: Final[dict[str, tuple[float, int]]] = {
    "entitlements": (5000.0, 10000),
    "read": (100.0, 200),
    "write": (50.0, 100),
    "me": (10.0, 30),
}


@dataclass(frozen=True, slots=True)
class Rule:
    rate: float  # requests per second, on average
    burst: int  # requests at once


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # seconds until the bucket is full again
    retry_after: float  # seconds until one request is allowed (0 when allowed)

    def headers(self) -> list[tuple[bytes, bytes]]:
        found = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(math.ceil(self.reset)).encode()),
        ]
        if not self.allowed:
            found.append((b"retry-after", str(max(1, math.ceil(self.retry_after))).encode()))
        return found


def parse_rules(text: str | None) -> dict[str, Rule]:
    """``read=50/100,write=20/50`` (rate per second / burst); ``off`` for none; unset: the
    defaults. Unknown classes or malformed parts are refused (a typo must not lift limits)."""
    if text is None or not text.strip():
        return {name: Rule(*value) for name, value in DEFAULTS.items()}
    if text.strip().lower() == "off":
        return {}
    rules = {name: Rule(*value) for name, value in DEFAULTS.items()}
    for part in text.split(","):
        name, _, spec = part.strip().partition("=")
        rate, _, burst = spec.partition("/")
        if name not in ROUTE_CLASSES:
            raise ValueError(f"TENURE_RATE_LIMITS: unknown route class {name!r}")
        try:
            value = Rule(float(rate), int(burst or max(1, int(float(rate)))))
        except ValueError:
            raise ValueError(f"TENURE_RATE_LIMITS: {part!r} is not class=rate/burst") from None
        if value.rate <= 0:
            rules.pop(name, None)  # 0: this class is not limited
        elif value.burst < 1:
            raise ValueError(f"TENURE_RATE_LIMITS: burst must be at least 1 in {part!r}")
        else:
            rules[name] = value
    return rules


def route_class(method: str, path: str) -> str:
    if path == "/v1/me" or path.startswith("/v1/me/"):
        return "me"
    if path.startswith("/v1/entitlements/") or (
        method == "GET" and path.startswith("/v1/customers/") and path.endswith("/entitlements")
    ):
        return "entitlements"
    return "read" if method in ("GET", "HEAD") else "write"


def _decide(rule: Rule, tat: float, now: float) -> tuple[Decision, float | None]:
    """GCRA: the decision, and the new theoretical arrival time to store (None: refused)."""
    interval = 1.0 / rule.rate
    tolerance = rule.burst * interval
    tat = max(tat, now)
    new_tat = tat + interval
    if new_tat - now > tolerance + 1e-9:
        retry = new_tat - now - tolerance
        return Decision(False, rule.burst, 0, tat - now, retry), None
    remaining = int((tolerance - (new_tat - now)) / interval + 1e-9)
    return Decision(True, rule.burst, remaining, new_tat - now, 0.0), new_tat


class Limiter(Protocol):
    async def hit(self, key: str, rule: Rule) -> Decision: ...


class LocalLimiter:
    """In-process buckets (one process: the embedded SQLite default)."""

    MAX_KEYS: Final = 100_000

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._tat: dict[str, float] = {}
        self._monotonic = monotonic

    def hit_now(self, key: str, rule: Rule) -> Decision:
        now = self._monotonic()
        decision, new_tat = _decide(rule, self._tat.get(key, now), now)
        if new_tat is not None:
            if len(self._tat) >= self.MAX_KEYS:  # forget full buckets (they restart full)
                self._tat = {k: v for k, v in self._tat.items() if v > now}
            self._tat[key] = new_tat
        return decision

    async def hit(self, key: str, rule: Rule) -> Decision:
        return self.hit_now(key, rule)


# KEYS[1]: the bucket; ARGV: interval and tolerance in microseconds. Returns allowed (0/1),
# the stored-or-current TAT minus now (µs), and retry (µs).
_GCRA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > tolerance then
  return {0, tat - now, new_tat - now - tolerance}
end
local ttl = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl)
return {1, new_tat - now, 0}
"""


class RedisLimiter:
    """Buckets in Redis under ``{prefix}{key}``: every process shares one budget."""

    def __init__(self, url: str, *, prefix: str = "tenure:rl:") -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)
        self._script = self._redis.register_script(_GCRA)
        self.prefix = prefix

    async def hit(self, key: str, rule: Rule) -> Decision:
        interval = 1_000_000 / rule.rate
        tolerance = rule.burst * interval
        allowed, ahead, retry = await self._script(
            keys=[self.prefix + key], args=[int(interval), int(tolerance)]
        )
        ahead_s, retry_s = int(ahead) / 1_000_000, int(retry) / 1_000_000
        if not int(allowed):
            return Decision(False, rule.burst, 0, ahead_s, retry_s)
        remaining = int((tolerance / 1_000_000 - ahead_s) / (interval / 1_000_000) + 1e-9)
        return Decision(True, rule.burst, max(0, remaining), ahead_s, 0.0)

    async def aclose(self) -> None:
        await self._redis.aclose()


class RateLimits:
    """The limiter and the rules per route class; ``check`` answers None when not limited."""

    def __init__(self, rules: dict[str, Rule], limiter: Limiter) -> None:
        self.rules = rules
        self.limiter = limiter
        self._warned = float("-inf")

    async def check(self, method: str, path: str, caller: str) -> Decision | None:
        kind = route_class(method, path)
        rule = self.rules.get(kind)
        if rule is None:
            return None
        try:
            return await self.limiter.hit(f"{kind}:{caller}", rule)
        except (OSError, RedisError) as error:
            # Redis is down: serve unlimited rather than fail every request (a limiter
            # protects the API; it must not become its outage). One warning per 10 s.
            if time.monotonic() - self._warned > 10:
                self._warned = time.monotonic()
                log.warning("ratelimit.unavailable", error=type(error).__name__)
            return None

    async def aclose(self) -> None:
        close = getattr(self.limiter, "aclose", None)
        if close is not None:
            await close()


def build(rules: dict[str, Rule], redis_url: str | None) -> RateLimits | None:
    if not rules:
        return None
    limiter: Limiter = RedisLimiter(redis_url) if redis_url else LocalLimiter()
    return RateLimits(rules, limiter)
