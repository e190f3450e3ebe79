"""One renewal worker process: ``python -m bench.worker URL PROVIDER [--sql-timing]``.

It builds its Runtime, says ``ready``, waits for a line on stdin (so every process starts
draining at the same moment, after its imports), runs :func:`tenure.workers.loop.run_once`
and prints one JSON line after ``RESULT_PREFIX``: how many items it handled, when it started
and finished, and (with ``--sql-timing``) the time spent per SQL statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import cast

import msgspec

from bench.profiling import sql_timer
from bench.runtime import ProviderName, make_runtime
from tenure.flows.runtime import Runtime
from tenure.workers.loop import run_once

RESULT_PREFIX = "BENCH_WORKER_RESULT "


class WorkerResult(msgspec.Struct):
    handled: int
    started: float  # time.time(), comparable across processes
    finished: float
    queries: dict[str, list[float]] = {}  # statement -> [seconds, executions]


async def drain(runtime: Runtime, *, sql_timing: bool = False) -> WorkerResult:
    """One :func:`run_once` pass; the Runtime's database is disposed of afterwards."""
    try:
        timing: contextlib.AbstractContextManager[dict[str, list[float]]] = (
            sql_timer(runtime.db.engine) if sql_timing else contextlib.nullcontext({})
        )
        with timing as queries:
            started = time.time()
            handled = await run_once(runtime)
            finished = time.time()
        return WorkerResult(handled, started, finished, dict(queries))
    finally:
        await runtime.db.dispose()


def main() -> None:
    url, provider = sys.argv[1], sys.argv[2]
    if provider not in ("sandbox", "null"):
        raise SystemExit(f"unknown provider {provider!r}")
    runtime = make_runtime(url, cast(ProviderName, provider))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # "go"
    result = asyncio.run(drain(runtime, sql_timing="--sql-timing" in sys.argv[3:]))
    sys.stdout.write(RESULT_PREFIX + msgspec.json.encode(result).decode() + "\n")


if __name__ == "__main__":
    main()
