"""One provider rate limit for all processes: two worker processes sharing one limiter (Redis,
or PostgreSQL without Redis) together stay under the limit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tenure.db.engine import Database
from tenure.payments.ratelimit import (
    PostgresLimiter,
    RateLimitedProvider,
    RedisLimiter,
    TokenBucket,
    limited,
)
from tenure.payments.sandbox import SandboxProvider

ROOT = Path(__file__).parents[2]
RATE = 20.0  # per second
PER_PROCESS = 15


def _run_two(kind: str, url: str, name: str) -> list[float]:
    start = time.time() + 1.5  # both processes are up and waiting by then
    command = [sys.executable, "-m", "tests.support.limiter_worker", kind, url, name,
               str(RATE), str(PER_PROCESS), str(start)]  # fmt: skip
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    times: list[float] = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        times.extend(json.loads(out))
    return sorted(times)


def _assert_under_the_limit(times: list[float]) -> None:
    assert len(times) == 2 * PER_PROCESS
    # Without sharing, two processes would each go at RATE: 30 calls in ~0.7 s.
    assert times[-1] - times[0] >= (len(times) - 1) / RATE * 0.9
    # The times are taken by each process after its permit was granted, so on a loaded machine
    # a late recording can squeeze grants together: allow a fifth of a second of that jitter
    # (still far below the 30 calls two unshared processes make in any second).
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u - t < 1.0)
        assert in_window <= RATE * 1.2 + 1, f"{in_window} calls within 1 s"


@pytest.mark.redis
def test_two_processes_share_one_limit_through_redis(redis_url: str) -> None:
    _assert_under_the_limit(_run_two("redis", redis_url, f"tenure-test:{uuid.uuid4().hex}:"))


@pytest.mark.postgres
def test_two_processes_share_one_limit_through_postgres(postgres_url: str) -> None:
    _assert_under_the_limit(_run_two("postgres", postgres_url, f"test-{uuid.uuid4().hex[:8]}"))


@pytest.mark.redis
async def test_limited_picks_redis_then_postgres_then_in_process(
    redis_url: str, database: Database
) -> None:
    provider = SandboxProvider(database)
    shared = limited(provider, 5, database=database, redis_url=redis_url, prefix="tenure-test:")
    assert isinstance(shared, RateLimitedProvider) and isinstance(shared.bucket, RedisLimiter)
    await shared.aclose()
    fallback = limited(provider, 5, database=database)
    assert isinstance(fallback, RateLimitedProvider)
    expected = PostgresLimiter if database.dialect == "postgresql" else TokenBucket
    assert isinstance(fallback.bucket, expected)
    assert limited(provider, 0, database=database, redis_url=redis_url) is provider


@pytest.mark.redis
async def test_the_redis_limiter_spaces_calls_in_one_process(redis_url: str) -> None:
    limiter = RedisLimiter(redis_url, 50, burst=2, prefix=f"tenure-test:{uuid.uuid4().hex}:")
    started = time.monotonic()
    waits = [await limiter.acquire() for _ in range(12)]
    elapsed = time.monotonic() - started
    await limiter.aclose()
    assert waits[:2] == [0.0, 0.0]  # the burst
    assert elapsed >= 10 / 50 * 0.9
