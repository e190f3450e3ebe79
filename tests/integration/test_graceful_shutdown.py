"""SIGTERM mid-batch: the worker finishes its batch, the relay finishes or releases its sends;
nothing is left half-written, and both exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from tenure.api.app import build_runtime, create_app
from tenure.db.engine import Database
from tenure.ops.invariants import run_checks
from tenure.settings import Settings
from tests.support.api import API_KEY, Api
from tests.support.logscan import keep
from tests.support.receiver import Receiver

TENURE = str(Path(sys.executable).with_name("tenure"))
SUBSCRIBERS = 12


async def _scalar(database: Database, statement: str) -> Any:
    async with database.engine.connect() as connection:
        return (await connection.execute(text(statement))).scalar()


async def _wait_for(database: Database, statement: str, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await _scalar(database, statement):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {statement}")


async def _start(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        TENURE,
        *args,
        env={**os.environ, "TENURE_LOG_FORMAT": "json", **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _stop(process: asyncio.subprocess.Process, label: str) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    output = out.decode() + err.decode()
    keep(output, label)
    assert process.returncode == 0, output[-2000:]
    return output


async def test_sigterm_mid_batch_lets_the_worker_finish_its_batch(database_url: str) -> None:
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
        # Off the clock: these subscriptions are now real-time, with renewals long overdue.
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE subscriptions SET test_clock_id = NULL"))
        worker = await _start(
            "worker",
            "--database-url",
            database_url,
            "--no-relay",
            env={"TENURE_PROVIDER_RATE": "6"},  # charges trickle: the batch takes ~2 s
        )
        # The batch committed its attempts and is charging them: now stop it.
        await _wait_for(database, "SELECT count(*) FROM payment_attempts WHERE status = 'pending'")
        output = await _stop(worker, "worker-sigterm")
        assert '"worker.stopped"' in output

        pending = await _scalar(
            database, "SELECT count(*) FROM payment_attempts WHERE status = 'pending'"
        )
        assert pending == 0  # the batch in flight finished: every charge recorded
        renewed = await _scalar(
            database, "SELECT count(*) FROM invoices WHERE billing_reason = 'subscription_cycle'"
        )
        assert 0 < renewed < SUBSCRIBERS * 20  # it stopped long before catching up
        runtime = await build_runtime(Settings(database_url=database_url, migrate=False))
        try:
            failed = [r for r in await run_checks(runtime) if not r.ok]
        finally:
            await runtime.db.dispose()
        assert not failed, [(r.check, r.violations[:3]) for r in failed]
    finally:
        await database.dispose()


async def test_sigterm_mid_send_lets_the_relay_finish_or_release(
    database_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TENURE_WEBHOOKS_ALLOW_PRIVATE", "true")
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with Receiver(behave=lambda n, request: (200, 0.5)) as receiver:
        async with AsyncTestClient(app=create_app(settings)) as client:
            api = Api(client)
            await api.ok(
                "POST", "/v1/webhook_endpoints", {"url": receiver.url, "event_types": ["*"]}
            )
            clock = await api.clock("2025-01-31T10:00:00Z")
            customer = await api.customer(clock)
            await api.subscribe(customer)
            await api.advance(clock, "2025-06-30T10:00:00Z")  # one chain of ~20 events
        database = Database(database_url)
        try:
            relay = await _start(
                "relay",
                "--database-url",
                database_url,
                env={"TENURE_WEBHOOKS_ALLOW_PRIVATE": "true"},
            )
            deadline = time.monotonic() + 60
            for _ in range(3000):  # the first POST is in flight (the receiver holds it)
                if receiver.requests or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            assert receiver.requests, "the relay never sent anything"
            started = time.monotonic()
            output = await _stop(relay, "relay-sigterm")
            assert time.monotonic() - started < 15  # it did not send the whole chain first
            assert '"relay.stopped"' in output

            leased = await _scalar(
                database,
                "SELECT count(*) FROM event_deliveries WHERE lease_token IS NOT NULL",
            )
            assert leased == 0  # nothing left claimed: finished or released
            delivered = await _scalar(
                database, "SELECT count(*) FROM event_deliveries WHERE status = 'delivered'"
            )
            waiting = await _scalar(
                database, "SELECT count(*) FROM event_deliveries WHERE status = 'pending'"
            )
            assert delivered >= 1 and waiting >= 1
            assert delivered == len(receiver.accepted())  # every answered POST was recorded
        finally:
            await database.dispose()
