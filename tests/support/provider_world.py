"""A runtime on the Stripe or Adyen adapter pointed at its fake server, and a way to hand the
fake's webhooks to the inbox as the provider routes do (stored once, processed in order)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.flows import accounts, provider_events
from tenure.flows.assembly import assemble
from tenure.flows.payment_methods import token_for_subscribe
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import SubscribeResult, subscribe
from tenure.kernel.clock import FixedClock
from tenure.payments import inbox
from tenure.payments.inbox import InboxEvent
from tenure.payments.models import ProviderEvent
from tests.support.fakes import (
    adyen_provider,
    new_adyen_fake,
    new_stripe_fake,
    running,
    stripe_provider,
)

START = datetime(2025, 1, 15, 9, tzinfo=UTC)
FEB = datetime(2025, 2, 15, 9, tzinfo=UTC)
PROVIDERS = ["stripe", "adyen"]


@dataclass
class World:
    kind: str
    fake: Any
    runtime: Runtime

    def stripe(self, type_: str, obj: dict[str, Any], created: int | None = None) -> InboxEvent:
        return inbox.parse_stripe(json.dumps(self.fake.event(type_, obj, created)).encode())

    def adyen(self, code: str, **fields: Any) -> InboxEvent:
        return inbox.parse_adyen_item(self.fake.item(code, **fields))

    async def deliver(self, *events: InboxEvent) -> list[int]:
        """Store (duplicates insert nothing) and process, as the webhook route does."""
        async with self.runtime.db.transaction() as session:
            pks = await inbox.store(session, list(events), at=datetime.now(UTC))
        await provider_events.process(self.runtime, pks)
        return pks

    async def inbox_rows(self) -> list[tuple[str, str, str | None]]:
        async with self.runtime.db.read() as session:
            rows = await session.execute(
                select(ProviderEvent.type, ProviderEvent.status, ProviderEvent.note).order_by(
                    ProviderEvent.pk
                )
            )
            return [(str(t), str(s), n) for t, s, n in rows.all()]

    async def events(self, customer: str) -> list[str]:
        async with self.runtime.db.read() as session:
            rows = await session.scalars(
                select(OutboxEvent.type)
                .where(OutboxEvent.customer_id == customer)
                .order_by(OutboxEvent.id)
            )
            return list(rows.all())

    async def subscriber(self, token: str) -> tuple[str, str, SubscribeResult]:
        runtime = self.runtime
        clock = await accounts.create_test_clock(runtime, frozen_time=START, name=None)
        customer = await accounts.create_customer(
            runtime, external_id=f"u-{clock.id}", email="a@b.co", market="SE",
            test_clock_id=clock.id,
        )  # fmt: skip
        pm = await token_for_subscribe(runtime, customer_id=customer.id, payment_method=token)
        result = await subscribe(
            runtime, customer_id=customer.id, plan_id="premium_individual_monthly",
            payment_method=pm, trial=False, actor="test",
        )  # fmt: skip
        return clock.id, customer.id, result


@pytest.fixture(params=PROVIDERS)
def fake_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, Any]]:
    fake = new_stripe_fake() if request.param == "stripe" else new_adyen_fake()
    with running(fake) as server:
        yield request.param, fake, server


@pytest.fixture
async def world(database: Database, fake_server: tuple[str, Any, Any]) -> AsyncIterator[World]:
    kind, fake, server = fake_server
    adapter = (stripe_provider if kind == "stripe" else adyen_provider)(database, server)
    runtime = assemble(
        db=database,
        catalog=load_catalog(default_catalog_path()),
        provider=adapter,
        clock=FixedClock(START),
    )
    yield World(kind, fake, runtime)
    await adapter.aclose()
