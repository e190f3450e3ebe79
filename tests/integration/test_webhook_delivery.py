"""Webhook delivery against real receivers on 127.0.0.1 that fail, stall, time out, recover.

Each test checks the three promises: every event arrives, in order per subscription, and a
duplicate is only ever a redelivery of the same webhook-id (with the same body).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from tenure.events import deliveries
from tenure.events.models import OutboxEvent
from tenure.events.retry import RetryPolicy
from tenure.flows import webhooks as flows
from tenure.flows.runtime import Runtime
from tenure.webhooks.models import WebhookEndpoint
from tenure.workers.relay import Relay
from tenure.workers.webhook_sink import WebhookSink
from tests.support import events
from tests.support.clock import JumpClock
from tests.support.receiver import Received, Receiver

FAST = RetryPolicy(first=timedelta(seconds=5), factor=2.0, cap=timedelta(minutes=5))


@pytest.fixture(autouse=True)
def _allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENURE_WEBHOOKS_ALLOW_PRIVATE", "true")


def relay(runtime: Runtime, **sink: Any) -> Relay:
    options: dict[str, Any] = {"allow_private": True, "policy": FAST, "timeout": 2.0, **sink}
    return Relay(
        runtime, [WebhookSink(runtime.clock, **options)], batch_size=50, rng=random.Random(7)
    )


async def drive(
    runtime: Runtime,
    relay: Relay,
    done: Callable[[], bool | Awaitable[bool]],
    *,
    step: timedelta,
    passes: int = 400,
) -> None:
    """Run passes until ``done``; when a pass finds nothing to do, time jumps by ``step``."""
    clock = runtime.clock
    assert isinstance(clock, JumpClock)
    for _ in range(passes):
        answer = done()
        if answer if isinstance(answer, bool) else await answer:
            return
        if await relay.run_once() == 0:
            clock.jump(step)
    raise AssertionError("the relay did not finish")


async def all_events(runtime: Runtime) -> list[OutboxEvent]:
    async with runtime.db.read() as session:
        return list((await session.scalars(select(OutboxEvent).order_by(OutboxEvent.pk))).all())


def check_promises(received: list[Received], expected: list[OutboxEvent]) -> None:
    accepted = [r for r in received if 200 <= r.status < 300]
    assert {r.webhook_id for r in accepted} == {e.id for e in expected}, "an event was lost"
    bodies: dict[str, bytes] = {}
    for request in received:
        # A duplicate is the same webhook-id with the very same bytes, never a new id.
        assert bodies.setdefault(request.webhook_id, request.body) == request.body
        assert request.json["id"] == request.webhook_id
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for request in accepted:
        if request.webhook_id not in seen and request.json["subscription"]:
            first_seen[request.json["subscription"]].append(request.json["sequence"])
        seen.add(request.webhook_id)
    for subscription, sequences in first_seen.items():
        assert sequences == list(range(1, len(sequences) + 1)), f"out of order: {subscription}"


async def new_endpoint(runtime: Runtime, url: str, types: list[str] | None = None) -> Any:
    return await flows.create_endpoint(
        runtime, url=url, event_types=types or ["*"], description="test receiver"
    )


async def test_a_receiver_that_fails_times_out_and_recovers_gets_everything_in_order(
    runtime: Runtime,
) -> None:
    def flaky(n: int, request: Received) -> tuple[int, float]:
        if n < 8:
            return 500, 0.0  # down for a while
        if n < 11:
            return 200, 2.5  # answers after the relay's 2 s timeout: processed, yet a failure
        if n % 9 == 0:
            return 503, 0.0
        return 200, 0.01 if n % 4 else 0.3  # and sometimes slow

    async with Receiver(flaky) as receiver:
        endpoint = await new_endpoint(runtime, receiver.url)
        subscriptions = await events.year_of_renewals(runtime, subscribers=2)
        expected = await all_events(runtime)
        wanted = {e.id for e in expected}
        await drive(
            runtime,
            relay(runtime),
            lambda: wanted <= {r.webhook_id for r in receiver.accepted()},
            step=timedelta(minutes=6),
        )
    assert len(subscriptions) == 2 and len(expected) > 60
    check_promises(receiver.requests, expected)
    assert any(r.status == 500 for r in receiver.requests)
    for request in receiver.accepted():
        Webhook(endpoint.secret).verify(request.body, request.headers)
    async with runtime.db.read() as session:
        counts = await deliveries.counts(session, endpoint.id)
    assert counts == {"delivered": len(expected)}


@pytest.mark.parametrize("where", ["while-sending", "before-marking"])
async def test_a_relay_killed_mid_batch_loses_nothing(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    stalled = asyncio.Event()

    def stall_once(n: int, request: Received) -> tuple[int, float]:
        if n == 5 and where == "while-sending":
            stalled.set()
            return 200, 3.0  # the relay is killed while this request hangs
        return 200, 0.0

    async with Receiver(stall_once) as receiver:
        endpoint = await new_endpoint(runtime, receiver.url)
        await events.customers(runtime, 30)
        expected = await all_events(runtime)
        first = relay(runtime)
        if where == "while-sending":
            task = asyncio.create_task(drive_forever(first))
            await asyncio.wait_for(stalled.wait(), timeout=20)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            # The connection drops after the receivers answered, before the batch is marked.
            original = deliveries.finish

            async def lost(*args: Any) -> None:
                raise ConnectionError("database connection lost")

            monkeypatch.setattr(deliveries, "finish", lost)
            with pytest.raises(ConnectionError):
                await first.run_once()
            monkeypatch.setattr(deliveries, "finish", original)
        await first.close()
        sent_before = len(receiver.requests)

        async def all_marked() -> bool:
            async with runtime.db.read() as session:
                return await deliveries.counts(session, endpoint.id) == {"delivered": len(expected)}

        # A new relay: the dead one's leases run out (the clock jumps past them) and it resends.
        await drive(runtime, relay(runtime), all_marked, step=timedelta(minutes=2))
    assert sent_before > 0
    check_promises(receiver.requests, expected)
    ids = [r.webhook_id for r in receiver.requests]
    assert len(ids) > len(set(ids)), "the kill should have caused at least one redelivery"


async def drive_forever(relay: Relay) -> None:
    while True:
        await relay.run_once()
        await asyncio.sleep(0)


async def test_dead_letter_after_the_horizon_then_disable_then_replay(runtime: Runtime) -> None:
    status = {"code": 500}
    async with Receiver(lambda n, r: (status["code"], 0.0)) as receiver:
        endpoint = await new_endpoint(runtime, receiver.url, ["customer.created"])
        await events.customers(runtime, 3)
        short = RetryPolicy(
            first=timedelta(seconds=5),
            factor=2.0,
            cap=timedelta(minutes=5),
            horizon=timedelta(minutes=30),
        )
        worker = relay(runtime, policy=short, disable_after=timedelta(hours=1))

        async def disabled() -> WebhookEndpoint:
            async with runtime.db.read() as session:
                found = await session.get(WebhookEndpoint, endpoint.id)
                assert found is not None
                return found

        for attempt in range(200):
            if (await disabled()).status == "disabled":
                break
            if await worker.run_once() == 0:
                runtime.clock.jump(timedelta(minutes=4))  # type: ignore[attr-defined]
            if attempt % 8 == 7:
                await events.customers(runtime, 1)  # new events keep it trying
        gone = await disabled()
        assert gone.status == "disabled"
        assert gone.disabled_reason is not None and "HTTP 500" in gone.disabled_reason
        async with runtime.db.read() as session:
            counts = await deliveries.counts(session, endpoint.id)
            notices = (
                await session.scalars(
                    select(OutboxEvent).where(OutboxEvent.type == "webhook_endpoint.disabled")
                )
            ).all()
        assert counts.get("dead", 0) >= 3, counts  # the first three gave up after 30 minutes
        assert [n.data["endpoint"] for n in notices] == [endpoint.id]
        assert counts.get("pending", 0) == 0  # a disabled endpoint's queue is paused

        # Events while it is disabled wait for it (paused), they are not skipped.
        heard = len(receiver.requests)
        paused = counts.get("paused", 0)
        await events.customers(runtime, 2)
        await worker.run_once()
        async with runtime.db.read() as session:
            assert (await deliveries.counts(session, endpoint.id)).get("paused") == paused + 2
        assert len(receiver.requests) == heard

        status["code"] = 204
        await flows.update_endpoint(runtime, endpoint.id, flows.Changes(status="enabled"))
        replayed, more = await flows.replay(
            runtime, endpoint.id, since=gone.created_at - timedelta(days=1), event_id=None
        )
        assert not more and replayed >= 3
        expected = [e for e in await all_events(runtime) if e.type == "customer.created"]
        wanted = {e.id for e in expected}
        await drive(
            runtime,
            worker,
            lambda: wanted <= {r.webhook_id for r in receiver.accepted()},
            step=timedelta(minutes=1),
        )
    check_promises(receiver.requests, expected)


async def test_410_gone_disables_at_once_and_a_redirect_is_not_followed(runtime: Runtime) -> None:
    async with (
        Receiver(lambda n, r: (302, 0.0)) as redirecting,
        Receiver(lambda n, r: (410, 0.0)) as gone,
    ):
        moved = await new_endpoint(runtime, redirecting.url)
        dead = await new_endpoint(runtime, gone.url)
        await events.customers(runtime, 1)
        await relay(runtime).run_once()
    async with runtime.db.read() as session:
        moved_row = await session.get(WebhookEndpoint, moved.id)
        dead_row = await session.get(WebhookEndpoint, dead.id)
        moved_deliveries = await deliveries.listing(
            session, moved.id, status=None, after=None, limit=10
        )
    assert len(redirecting.requests) == 1  # the Location was never followed
    assert moved_deliveries[0]["last_error"] == "HTTP 302: redirects are refused"
    assert moved_row is not None and moved_row.status == "enabled"
    assert dead_row is not None and dead_row.status == "disabled"
    assert dead_row.disabled_reason == "the receiver answered 410 Gone"


async def test_private_addresses_are_refused_at_delivery(runtime: Runtime) -> None:
    async with Receiver() as receiver:
        endpoint = await new_endpoint(runtime, receiver.url)  # allowed to save (dev mode) ...
        await events.customers(runtime, 1)
        await relay(runtime, allow_private=False).run_once()  # ... but production refuses
    async with runtime.db.read() as session:
        rows = await deliveries.listing(session, endpoint.id, status=None, after=None, limit=10)
    assert receiver.requests == []
    assert rows[0]["status"] == "pending" and rows[0]["attempts"] == 1
    assert "127.0.0.1, which is not a public address" in rows[0]["last_error"]


async def test_a_rotated_secret_overlaps_then_expires(runtime: Runtime) -> None:
    async with Receiver() as receiver:
        endpoint = await new_endpoint(runtime, receiver.url)
        old = endpoint.secret
        rotated = await flows.rotate_secret(runtime, endpoint.id, overlap=timedelta(hours=1))
        await events.customers(runtime, 1)
        worker = relay(runtime)
        await worker.run_once()
        runtime.clock.jump(timedelta(hours=2))  # type: ignore[attr-defined]
        await events.customers(runtime, 1)
        await worker.run_once()
    during, after = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(rotated.secret).verify(during.body, during.headers)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(rotated.secret).verify(after.body, after.headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(old).verify(after.body, after.headers)


async def test_two_relays_at_once_keep_order_and_lose_nothing(runtime: Runtime) -> None:
    async with Receiver(lambda n, r: (500 if n % 5 == 0 else 200, 0.002)) as receiver:
        await new_endpoint(runtime, receiver.url)
        await events.year_of_renewals(runtime, subscribers=3)
        expected = await all_events(runtime)
        wanted = {e.id for e in expected}
        relays = [relay(runtime), relay(runtime)]

        def done() -> bool:
            return wanted <= {r.webhook_id for r in receiver.accepted()}

        await asyncio.gather(
            *(drive(runtime, r, done, step=timedelta(seconds=20), passes=2000) for r in relays)
        )
        for r in relays:
            await r.close()
    check_promises(receiver.requests, expected)
