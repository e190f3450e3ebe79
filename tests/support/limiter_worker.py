"""One "worker process" for the shared rate-limit test: takes N tokens, prints their times.

``python -m tests.support.limiter_worker redis|postgres URL NAME RATE N START``: waits until
wall time START so both processes begin together, then prints a JSON list of the wall times
at which each acquire returned (when the provider call would be made).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from tenure.db.engine import Database
from tenure.payments.ratelimit import Limiter, PostgresLimiter, RedisLimiter


async def main(kind: str, url: str, name: str, rate: float, count: int, start: float) -> None:
    database = None
    limiter: Limiter
    if kind == "redis":
        limiter = RedisLimiter(url, rate, burst=1, prefix=name)
    else:
        database = Database(url)
        limiter = PostgresLimiter(database, rate, burst=1, name=name)
    await asyncio.sleep(max(0.0, start - time.time()))
    times = []
    for _ in range(count):
        await limiter.acquire()
        times.append(time.time())
    if isinstance(limiter, RedisLimiter):
        await limiter.aclose()
    if database is not None:
        await database.dispose()
    sys.stdout.write(json.dumps(times) + "\n")


if __name__ == "__main__":
    kind, url, name, rate, count, start = sys.argv[1:7]
    asyncio.run(main(kind, url, name, float(rate), int(count), float(start)))
