"""Issue 10: ``kill -9`` of a worker in the middle of a batch, then every invariant holds.

The worker has committed a batch of renewals (attempts stored) and is charging them, slowly
(a provider rate limit), when it is killed without warning: no ``finally`` runs. A second
worker then takes over: the attempts left pending are resolved by asking the provider after
their lease, the rest of the due work is done, and ``tenure check`` finds nothing wrong: no
charge twice, no period lost or doubled, no event missing.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime

from litestar.testing import AsyncTestClient
from sqlalchemy import text, update

from tenure.api.app import build_runtime, create_app
from tenure.db.engine import Database
from tenure.ops.invariants import run_checks
from tenure.payments.models import PaymentAttempt
from tenure.settings import Settings
from tests.integration.test_graceful_shutdown import _scalar, _start, _wait_for
from tests.support.api import API_KEY, Api
from tests.support.logscan import keep

SUBSCRIBERS = 10


async def test_kill_9_mid_batch_then_invariants_hold(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        api = Api(client)
        clock = await api.clock("2025-01-31T10:00:00Z")
        for _ in range(SUBSCRIBERS):
            await api.subscribe(await api.customer(clock))
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:  # renewals long overdue, real time
            await connection.execute(text("UPDATE subscriptions SET test_clock_id = NULL"))
        worker = await _start(
            "worker",
            "--database-url",
            database_url,
            "--no-relay",
            env={"TENURE_PROVIDER_RATE": "4"},
        )
        await _wait_for(database, "SELECT count(*) FROM payment_attempts WHERE status = 'pending'")
        worker.send_signal(signal.SIGKILL)
        out, err = await worker.communicate()
        keep(out.decode() + err.decode(), "worker-kill9")
        assert worker.returncode == -signal.SIGKILL
        left = await _scalar(
            database, "SELECT count(*) FROM payment_attempts WHERE status = 'pending'"
        )
        assert left > 0  # killed mid-batch: some charges never recorded

        # The dead worker's leases (payments.attempts.LEASE, 30 s) run out, as time would
        # make them; then a new worker finishes the job.
        async with database.engine.begin() as connection:
            await connection.execute(
                update(PaymentAttempt)
                .where(PaymentAttempt.status == "pending")
                .values(lease_until=datetime(2000, 1, 1, tzinfo=UTC))
            )
        survivor = await _start("worker", "--database-url", database_url, "--once", env={})
        out, err = await asyncio.wait_for(survivor.communicate(), timeout=120)
        keep(out.decode() + err.decode(), "worker-after-kill")
        assert survivor.returncode == 0, (out + err).decode()[-2000:]
        assert (
            await _scalar(
                database, "SELECT count(*) FROM payment_attempts WHERE status = 'pending'"
            )
            == 0
        )
    finally:
        await database.dispose()
    runtime = await build_runtime(Settings(database_url=database_url, migrate=False))
    try:
        failed = [r for r in await run_checks(runtime) if not r.ok]
    finally:
        await runtime.db.dispose()
    assert not failed, [(r.check, r.violations[:3]) for r in failed]
