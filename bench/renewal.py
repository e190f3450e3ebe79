"""The renewal run: N subscriptions due at once on PostgreSQL, drained by the worker.

Seeded with COPY, drained by ``workers`` processes each running
:func:`tenure.workers.loop.run_once` (what ``tenure worker --once`` does), then checked:
every subscription renewed exactly once, with one paid invoice and one successful payment.
A drain that outlives its time budget is stopped (like a crash) and reported as partial; the
check then proves that nothing was renewed or charged twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from sqlalchemy import bindparam, text

from bench import profiling
from bench.machine import ROOT, python_path
from bench.runtime import ProviderName, make_runtime, setup_database
from bench.seed import DuePlan, project, seed_due
from bench.servers import pinned
from bench.worker import RESULT_PREFIX, WorkerResult
from tenure.db.base import UTCDateTime
from tenure.migrations import upgrade

_CHECKS = {
    "subscriptions": "SELECT count(*) FROM subscriptions",
    # moved exactly one period forward, and due again only at the end of that period
    "renewed": (
        "SELECT count(*) FROM subscriptions WHERE status = 'active' "
        "AND current_period_start = :end AND current_period_end = :next "
        "AND next_action_at = :next"
    ),
    "invoices": "SELECT count(*) FROM invoices",
    "invoiced_subscriptions": "SELECT count(DISTINCT subscription_id) FROM invoices",
    "paid_invoices": (
        "SELECT count(*) FROM invoices WHERE status = 'paid' "
        "AND billing_reason = 'subscription_cycle' AND period_start = :end"
    ),
    "succeeded_payments": "SELECT count(*) FROM payment_attempts WHERE status = 'succeeded'",
    "paid_by_payment": (
        "SELECT count(DISTINCT invoice_id) FROM payment_attempts WHERE status = 'succeeded'"
    ),
    "renewed_history": "SELECT count(*) FROM subscription_history WHERE action = 'renewed'",
}


@dataclass(frozen=True, slots=True)
class Verification:
    subscriptions: int
    renewed: int
    invoices: int
    invoiced_subscriptions: int
    paid_invoices: int
    succeeded_payments: int
    paid_by_payment: int
    renewed_history: int

    @property
    def no_duplicates(self) -> bool:
        """Nothing happened twice: one invoice per moved period, one payment per paid invoice,
        one history row per paid renewal (holds for a run stopped at its budget too)."""
        return (
            self.invoices == self.invoiced_subscriptions == self.renewed
            and self.succeeded_payments == self.paid_by_payment == self.paid_invoices
            and self.renewed_history == self.paid_invoices
        )

    @property
    def complete(self) -> bool:
        """Every subscription renewed exactly once, with one paid invoice and one payment."""
        return self.no_duplicates and self.paid_invoices == self.subscriptions

    def describe(self) -> str:
        if self.complete:
            return (
                f"all {self.subscriptions:,} renewed exactly once: {self.invoices:,} invoices, "
                "all paid, one successful payment and one `renewed` history row each"
            )
        if self.no_duplicates:
            pending = self.invoices - self.paid_invoices
            return (
                f"nothing twice; {self.paid_invoices:,} of {self.subscriptions:,} renewed and "
                f"paid when stopped ({pending:,} more invoiced, payment in flight)"
            )
        return (
            f"MISMATCH: {self.renewed:,}/{self.subscriptions:,} periods moved, "
            f"{self.invoices:,} invoices for {self.invoiced_subscriptions:,} subscriptions, "
            f"{self.paid_invoices:,} paid, {self.succeeded_payments:,} successful payments for "
            f"{self.paid_by_payment:,} invoices, {self.renewed_history:,} history rows"
        )


@dataclass(frozen=True, slots=True)
class RenewalResult:
    provider: ProviderName
    count: int
    workers: int
    seconds: float  # first worker start to last worker finish (or the budget)
    seed_seconds: float
    verification: Verification
    stopped_at_budget: bool

    @property
    def rate(self) -> float:
        """Renewals completed (invoice paid) per second."""
        return self.verification.paid_invoices / self.seconds if self.seconds > 0 else 0.0


async def prepare(url: str, count: int, now: datetime) -> tuple[DuePlan, float]:
    """Migrate a fresh database and seed ``count`` due subscriptions; returns the seed time."""
    runtime = make_runtime(url, "null", setup=True)
    database = runtime.db
    try:
        await upgrade(database)
        started = time.perf_counter()
        plan, customer_ids = await seed_due(database, runtime.catalog, count, now)
        await project(runtime, customer_ids)
        if database.is_postgres:
            autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
            async with autocommit.connect() as connection:
                await connection.execute(text("VACUUM ANALYZE"))
        return plan, time.perf_counter() - started
    finally:
        await database.dispose()


async def verify(url: str, plan: DuePlan) -> Verification:
    params = {"end": plan.period_end, "next": plan.next_period_end}
    database = setup_database(url)
    try:
        async with database.read() as session:
            counts = {}
            for name, sql in _CHECKS.items():
                statement = text(sql)
                wanted = [key for key in params if f":{key}" in sql]
                # Bound as Tenure binds them (SQLite keeps timestamps as naive UTC text).
                statement = statement.bindparams(*(bindparam(k, type_=UTCDateTime) for k in wanted))
                found = await session.execute(statement, {k: params[k] for k in wanted})
                counts[name] = int(found.scalar_one())
    finally:
        await database.dispose()
    return Verification(**counts)


class _Worker:
    """A ``python -m bench.worker`` child process, in its own process group."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(
        cls, url: str, provider: ProviderName, *, cpu: str | None = None, sql_timing: bool = False
    ) -> _Worker:
        command = [sys.executable, "-m", "bench.worker", url, provider]
        if sql_timing:
            command.append("--sql-timing")
        process = await asyncio.create_subprocess_exec(
            *pinned(command, cpu),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": python_path()},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        worker = cls(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        if line.strip() != b"ready":
            await worker.stop()
            raise RuntimeError(f"worker did not start: {line!r}")
        return worker

    async def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()

    async def result(self) -> WorkerResult:
        """Read the output (Tenure logs there too) until the result line, then wait for exit."""
        assert self.process.stdout is not None
        result = None
        async for line in self.process.stdout:
            if line.startswith(RESULT_PREFIX.encode()):
                result = msgspec.json.decode(line[len(RESULT_PREFIX) :], type=WorkerResult)
            elif b"[error" in line:
                sys.stderr.write(f"  worker: {line.decode(errors='replace').rstrip()}\n")
        await self.process.wait()
        if self.process.returncode != 0 or result is None:
            raise RuntimeError(f"worker exited with {self.process.returncode}")
        return result

    async def stop(self) -> None:
        process = self.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def drain(
    url: str, provider: ProviderName, *, workers: int, budget: float
) -> tuple[float, bool]:
    """Run ``workers`` worker processes at once; returns the wall time and whether it was cut."""
    started: list[_Worker] = []
    try:
        for _ in range(workers):
            started.append(await _Worker.start(url, provider))
        go = time.time()
        for worker in started:
            await worker.go()
        tasks = [asyncio.create_task(worker.result()) for worker in started]
        done, pending = await asyncio.wait(tasks, timeout=budget)
        for task in pending:
            task.cancel()
        results = [task.result() for task in done]
        if pending:
            return time.time() - go, True
        return max(r.finished for r in results) - min(r.started for r in results), False
    finally:
        for worker in started:
            await worker.stop()


async def run(
    url: str, provider: ProviderName, count: int, *, workers: int, budget: float
) -> RenewalResult:
    """Seed ``count`` due subscriptions into the (empty) database at ``url`` and drain them."""
    plan, seed_seconds = await prepare(url, count, datetime.now(UTC))
    seconds, stopped = await drain(url, provider, workers=workers, budget=budget)
    verification = await verify(url, plan)
    return RenewalResult(provider, count, workers, seconds, seed_seconds, verification, stopped)


async def profile(
    url: str, provider: ProviderName, count: int, workdir: Path
) -> tuple[profiling.Profile, RenewalResult]:
    """One worker under py-spy (idle included: waiting on PostgreSQL shows) with SQL timing."""
    plan, seed_seconds = await prepare(url, count, datetime.now(UTC))
    worker = await _Worker.start(url, provider, sql_timing=True)
    out = workdir / f"py-spy-renewal-{provider}.txt"
    try:
        spy = await profiling.start_py_spy(worker.process.pid, out, seconds=None, idle=True)
        await asyncio.sleep(0.3)  # let py-spy attach
        await worker.go()
        result = await asyncio.wait_for(worker.result(), timeout=600)
        report = await profiling.finish_py_spy(f"renewal ({provider} provider)", spy, out)
    finally:
        await worker.stop()
    wall = result.finished - result.started
    verification = await verify(url, plan)
    profiling.add_sql(report, result.queries, wall=wall, items=verification.paid_invoices)
    return report, RenewalResult(provider, count, 1, wall, seed_seconds, verification, False)
