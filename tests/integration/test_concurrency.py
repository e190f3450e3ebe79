"""Two workers, two subscribes, two sequencers at once: everything still happens exactly once.

Each worker is a separate Runtime with its own Database (its own connection pool), as two
``tenure worker`` processes would be. On PostgreSQL they really interleave (``FOR UPDATE SKIP
LOCKED``); on SQLite the single writer serializes them, which must be just as correct.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from tenure.api.app import create_app
from tenure.billing.models import Invoice
from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.base import table_of
from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.flows import accounts
from tenure.flows.assembly import assemble
from tenure.flows.due import run_due
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import SubscriptionExists, subscribe
from tenure.kernel.clock import FixedClock
from tenure.payments.models import PaymentAttempt, SandboxCharge
from tenure.payments.sandbox import SandboxProvider
from tenure.settings import Settings
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import LIVE_STATUSES
from tenure.workers.loop import run_once, sequence_events
from tests.support.api import API_KEY, Api

N = 30
PLAN = "premium_individual_monthly"
T0 = datetime(2025, 1, 31, 10, tzinfo=UTC)
FIRST_END = datetime(2025, 2, 28, 10, tzinfo=UTC)
SECOND_END = datetime(2025, 3, 31, 10, tzinfo=UTC)
AFTER_FIRST_END = datetime(2025, 3, 1, 10, tzinfo=UTC)
CATALOG = load_catalog(default_catalog_path())

Workers = tuple[Runtime, Runtime, FixedClock]


def make_runtime(url: str, clock: FixedClock) -> Runtime:
    db = Database(url)
    return assemble(db=db, catalog=CATALOG, provider=SandboxProvider(db), clock=clock)


@pytest.fixture
async def workers(database_url: str) -> AsyncIterator[Workers]:
    clock = FixedClock(T0)
    first, second = make_runtime(database_url, clock), make_runtime(database_url, clock)
    try:
        yield first, second, clock
    finally:
        await first.db.dispose()
        await second.db.dispose()


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client)


async def new_customer(runtime: Runtime) -> str:
    customer = await accounts.create_customer(
        runtime,
        external_id=f"user-{uuid.uuid4().hex[:12]}",
        email="listener@example.com",
        market="SE",
        test_clock_id=None,
    )
    return customer.id


async def subscribe_many(runtime: Runtime, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        result = await subscribe(
            runtime,
            customer_id=await new_customer(runtime),
            plan_id=PLAN,
            payment_method="pm_card_visa",
            trial=False,
            actor="test",
        )
        ids.append(result.subscription_id)
    return ids


async def rows(db: Database, model: Any) -> list[dict[str, Any]]:
    table = table_of(model)
    async with db.read() as session:
        return [dict(row) for row in (await session.execute(select(table))).mappings().all()]


async def assert_each_renewed_exactly_once(db: Database, sub_ids: list[str]) -> None:
    invoices = await rows(db, Invoice)
    per_period = Counter((i["subscription_id"], i["period_start"]) for i in invoices)
    assert max(per_period.values()) == 1
    assert len(invoices) == 2 * len(sub_ids)
    starts = defaultdict(list)
    for invoice in invoices:
        starts[invoice["subscription_id"]].append(invoice["period_start"])
    assert {sub: sorted(s) for sub, s in starts.items()} == {
        sub: [T0, FIRST_END] for sub in sub_ids
    }
    assert {i["status"] for i in invoices} == {"paid"}
    assert all(i["amount_paid"] == i["total"] == 12900 for i in invoices)

    attempts = await rows(db, PaymentAttempt)
    by_invoice = Counter(a["invoice_id"] for a in attempts)
    assert by_invoice == Counter({i["id"]: 1 for i in invoices})
    assert {a["status"] for a in attempts} == {"succeeded"}

    charges = await rows(db, SandboxCharge)
    charged = Counter(c["idempotency_key"].split(":attempt:")[0] for c in charges)
    assert charged == Counter({i["id"]: 1 for i in invoices})
    assert {c["status"] for c in charges} == {"succeeded"}
    assert {a["provider_charge_id"] for a in attempts} == {c["charge_id"] for c in charges}

    subs = await rows(db, Subscription)
    assert {(s["id"], s["status"], s["current_period_end"]) for s in subs} == {
        (sub, "active", SECOND_END) for sub in sub_ids
    }

    events = await rows(db, OutboxEvent)
    renewed = Counter(e["subscription_id"] for e in events if e["type"] == "subscription.renewed")
    assert renewed == Counter({sub: 1 for sub in sub_ids})
    assert_sequences_contiguous(events)


def assert_sequences_contiguous(events: list[dict[str, Any]]) -> None:
    sequences: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event["subscription_id"] is not None:
            sequences[event["subscription_id"]].append(event["sequence"])
    for sub, seen in sequences.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), (sub, sorted(seen))


async def assert_positions_gap_free(db: Database) -> int:
    async with db.read() as session:
        positions = list((await session.scalars(select(OutboxEvent.position))).all())
    assert None not in positions, "an event was left unsequenced"
    assert sorted(positions) == list(range(1, len(positions) + 1))
    return len(positions)


# --- Renewals ------------------------------------------------------------------------------


async def test_two_workers_run_once_at_the_same_time(workers: Workers) -> None:
    first, second, clock = workers
    sub_ids = await subscribe_many(first, N)
    clock.set(AFTER_FIRST_END)

    await asyncio.gather(run_once(first), run_once(second))

    await assert_each_renewed_exactly_once(first.db, sub_ids)
    await assert_positions_gap_free(first.db)
    # A later pass finds nothing left to do.
    assert await asyncio.gather(run_once(first), run_once(second)) == [0, 0]
    await assert_each_renewed_exactly_once(first.db, sub_ids)


async def test_two_workers_draining_small_batches(workers: Workers) -> None:
    first, second, clock = workers
    sub_ids = await subscribe_many(first, N)
    clock.set(AFTER_FIRST_END)

    async def drain(runtime: Runtime, name: str) -> int:
        total = 0
        while True:
            now = runtime.clock.now()
            handled = await run_due(runtime, test_clock_id=None, now=now, actor=name, limit=5)
            if handled == 0:
                return total
            total += handled
            await asyncio.sleep(0)

    handled = await asyncio.gather(drain(first, "worker:a"), drain(second, "worker:b"))
    assert sum(handled) == N  # each subscription was claimed by exactly one worker, once

    await assert_each_renewed_exactly_once(first.db, sub_ids)
    await asyncio.gather(sequence_events(first), sequence_events(second))
    await sequence_events(first)
    await assert_positions_gap_free(first.db)


# --- Subscribing twice at once --------------------------------------------------------------


async def test_two_concurrent_subscribes_over_http(api: Api, database: Database) -> None:
    customer = await api.customer()
    body = {"customer": customer, "plan": PLAN, "payment_method": "pm_card_visa"}
    responses = await asyncio.gather(
        api.post("/v1/subscriptions", body),
        api.post("/v1/subscriptions", {**body, "plan": "premium_family_monthly"}),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.headers["content-type"].startswith("application/problem+json")
    assert loser.json()["code"] == "subscription_exists"
    winner = next(r for r in responses if r.status_code == 201).json()

    async with database.read() as session:
        live = (
            await session.scalars(
                select(Subscription.id).where(
                    Subscription.customer_id == customer,
                    Subscription.status.in_([s.value for s in LIVE_STATUSES]),
                )
            )
        ).all()
        charges = await session.scalar(
            select(func.count()).where(SandboxCharge.customer_id == customer)
        )
    assert list(live) == [winner["id"]]
    assert charges == 1
    assert len(await api.invoices(customer)) == 1


async def test_many_concurrent_subscribes_from_two_runtimes(workers: Workers) -> None:
    first, second, _ = workers
    customer = await new_customer(first)

    async def attempt(runtime: Runtime) -> str:
        try:
            result = await subscribe(
                runtime,
                customer_id=customer,
                plan_id=PLAN,
                payment_method="pm_card_visa",
                trial=False,
                actor="test",
            )
        except SubscriptionExists:
            return "exists"
        return result.subscription_id

    outcomes = await asyncio.gather(*(attempt(rt) for rt in [first, second] * 4))
    created = [o for o in outcomes if o != "exists"]
    assert len(created) == 1, outcomes
    assert outcomes.count("exists") == 7

    subs = await rows(first.db, Subscription)
    assert [(s["id"], s["status"]) for s in subs] == [(created[0], "active")]
    assert len(await rows(first.db, Invoice)) == 1
    assert len(await rows(first.db, SandboxCharge)) == 1
    events = await rows(first.db, OutboxEvent)
    assert [e["type"] for e in events].count("subscription.created") == 1
    assert_sequences_contiguous(events)


# --- The outbox sequencer ----------------------------------------------------------------


async def test_positions_stay_gap_free_under_concurrent_writers_and_sequencers(
    workers: Workers,
) -> None:
    first, second, _ = workers
    done = asyncio.Event()

    async def write(runtime: Runtime, count: int) -> None:
        for _ in range(count):
            await new_customer(runtime)
            await asyncio.sleep(0)

    async def sequence_until_done(runtime: Runtime) -> int:
        total = 0
        while not done.is_set():
            total += await sequence_events(runtime)
            await asyncio.sleep(0)
        return total

    async def writers() -> None:
        await asyncio.gather(write(first, 20), write(second, 20), write(first, 10))
        done.set()

    _, first_numbered, second_numbered = await asyncio.gather(
        writers(), sequence_until_done(first), sequence_until_done(second)
    )
    numbered_after = await sequence_events(first)
    total = await assert_positions_gap_free(first.db)
    assert total == 50  # one customer.created per customer
    # Every event was numbered exactly once, by whichever sequencer got to it.
    assert first_numbered + second_numbered + numbered_after == total
    events = await rows(first.db, OutboxEvent)
    assert len({e["customer_id"] for e in events}) == 50
