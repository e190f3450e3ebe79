"""The NATS JetStream publisher against real servers: every event lands exactly once.

Each test uses its own stream and subject prefix, so parallel runs and the shared server never
see each other. The outage test starts a private nats-server on another loopback port with its
own storage directory, kills it mid-run and starts it again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import nats
import pytest
from sqlalchemy import select

from tenure.events import deliveries
from tenure.events.models import OutboxEvent
from tenure.events.retry import RetryPolicy
from tenure.flows.runtime import Runtime
from tenure.workers.jetstream import JetStreamSink
from tenure.workers.relay import Relay
from tests.support import events

QUICK = RetryPolicy(
    first=timedelta(seconds=0.2), factor=2.0, cap=timedelta(seconds=1), horizon=None
)


@pytest.fixture
def stream_name() -> Iterator[str]:
    yield f"TEST_{uuid.uuid4().hex[:10].upper()}"


async def stored(url: str, stream: str) -> list[tuple[str, str]]:
    """(Nats-Msg-Id, subject) of every message in the stream, in stream order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(stream)).state
        found = []
        for seq in range(state.first_seq, state.last_seq + 1):
            message = await js.get_msg(stream, seq)
            assert message.headers is not None
            found.append((message.headers["Nats-Msg-Id"], message.subject or ""))
        return found
    finally:
        await nc.close()


async def drop_stream(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def sink(url: str, stream: str) -> JetStreamSink:
    prefix = stream.lower()
    return JetStreamSink(url, stream=stream, subject_prefix=prefix, policy=QUICK, ack_timeout=1.0)


async def event_ids(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as session:
        return list((await session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.pk))).all())


async def published_all(runtime: Runtime, total: int) -> bool:
    async with runtime.db.read() as session:
        return await deliveries.counts(session, "nats") == {"delivered": total}


def assert_exactly_once(found: list[tuple[str, str]], expected: list[str], prefix: str) -> None:
    ids = [msg_id for msg_id, _ in found]
    assert len(ids) == len(set(ids)), "a message is in the stream twice"
    assert sorted(ids) == sorted(expected), "an event is missing from the stream"
    assert all(subject.startswith(f"{prefix}.") for _, subject in found)


async def test_every_event_lands_exactly_once_even_when_published_again(
    runtime: Runtime, nats_url: str, stream_name: str
) -> None:
    await events.customers(runtime, 40)
    subscriptions = await events.year_of_renewals(runtime, subscribers=2)
    expected = await event_ids(runtime)
    relay = Relay(runtime, [sink(nats_url, stream_name)], batch_size=64)
    try:
        while await relay.run_once():
            pass
        assert await published_all(runtime, len(expected))
        # Publish everything a second time, as a relay that died before marking would.
        async with runtime.db.transaction() as session:
            refs = await deliveries.events_for_replay(
                session, since=None, event_id=None, after=0, limit=10_000
            )
            now = runtime.clock.now()
            await deliveries.requeue(
                session, [deliveries.delivery_row("nats", "nats", ref, now) for ref in refs]
            )
        while await relay.run_once():
            pass
        found = await stored(nats_url, stream_name)
    finally:
        await relay.close()
        await drop_stream(nats_url, stream_name)
    assert_exactly_once(found, expected, stream_name.lower())
    subjects = {subject for _, subject in found}
    assert f"{stream_name.lower()}.subscription.renewed" in subjects
    # One connection publishes in position order, so each subscription's events are in order.
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                select(OutboxEvent.id, OutboxEvent.subscription_id, OutboxEvent.sequence)
            )
        ).all()
    by_id = {row.id: row for row in rows}
    for subscription in subscriptions:
        sequences = [
            by_id[i].sequence for i, _ in found if by_id[i].subscription_id == subscription
        ]
        assert sequences == sorted(sequences) and len(sequences) > 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateServer:
    """A nats-server of this test's own: loopback only, JetStream in a temporary directory."""

    def __init__(self, store: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not os.path.exists(binary):
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail("nats-server is not installed")
            pytest.skip("nats-server is not installed")
        self.port = _free_port()
        self.command = [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)]
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise AssertionError("nats-server did not start")

    async def kill(self) -> None:
        if self.process is not None:
            self.process.kill()  # no goodbye: acks in flight are simply lost
            await asyncio.wait_for(self.process.wait(), timeout=10)
            self.process = None


@pytest.fixture
async def private_server(nats_url: str, tmp_path: Path) -> AsyncIterator[PrivateServer]:
    server = PrivateServer(tmp_path / "jetstream")
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


async def test_a_server_killed_mid_run_and_restarted_still_has_every_event_once(
    runtime: Runtime, private_server: PrivateServer, stream_name: str
) -> None:
    await events.customers(runtime, 60)
    relay = Relay(runtime, [sink(private_server.url, stream_name)], batch_size=16)
    stop = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            if await relay.run_once() == 0:
                await asyncio.sleep(0.05)

    task = asyncio.create_task(run())
    try:
        for _ in range(400):  # let part of the backlog go out, then pull the plug
            async with runtime.db.read() as session:
                if (await deliveries.counts(session, "nats")).get("delivered", 0) >= 16:
                    break
            await asyncio.sleep(0.02)
        await private_server.kill()
        await events.customers(runtime, 40)  # the business goes on during the outage
        await asyncio.sleep(1.5)
        async with runtime.db.read() as session:
            during = await deliveries.counts(session, "nats")
        assert during.get("pending", 0) > 0, during
        await private_server.start()
        expected = await event_ids(runtime)
        for _ in range(600):
            if await published_all(runtime, len(expected)):
                break
            await asyncio.sleep(0.1)
        assert await published_all(runtime, len(expected))
    finally:
        stop.set()
        await task
        await relay.close()
    found = await stored(private_server.url, stream_name)
    assert_exactly_once(found, expected, stream_name.lower())
