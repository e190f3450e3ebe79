"""One customer on one screen (``tenure customer show``): who, what they may do, their
subscriptions, invoices, payments, events and deliveries, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select

from tenure.billing.models import CreditNote, Invoice
from tenure.customers.models import Customer
from tenure.db.base import table_of
from tenure.entitlements.projection import table as entitlements
from tenure.events.delivery_models import EventDelivery
from tenure.events.models import OutboxEvent
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import NotFound
from tenure.payments.models import PaymentAttempt
from tenure.subscriptions.models import Subscription

LIMIT: Final = 20


@dataclass
class Overview:
    customer: dict[str, Any]
    entitlements: dict[str, Any] | None
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in result.mappings()]


async def overview(runtime: Runtime, key: str, *, limit: int = LIMIT) -> Overview:
    """The customer with id ``key`` (``cus_…``) or external id ``key``."""
    c = table_of(Customer)
    async with runtime.db.read() as session:
        found = (
            (await session.execute(select(c).where((c.c.id == key) | (c.c.external_id == key))))
            .mappings()
            .first()
        )
        if found is None:
            raise NotFound(f"no customer with id or external_id {key!r}", code="customer_not_found")
        customer = dict(found)
        cid = customer["id"]
        ent = (
            (await session.execute(select(entitlements).where(entitlements.c.customer_id == cid)))
            .mappings()
            .first()
        )
        s, i, a, n = (
            table_of(Subscription),
            table_of(Invoice),
            table_of(PaymentAttempt),
            table_of(CreditNote),
        )
        view = Overview(customer=customer, entitlements=None if ent is None else dict(ent))
        view.subscriptions = _rows(
            await session.execute(
                select(s).where(s.c.customer_id == cid).order_by(s.c.created_at.desc())
            )
        )
        view.invoices = _rows(
            await session.execute(
                select(i).where(i.c.customer_id == cid).order_by(i.c.id.desc()).limit(limit)
            )
        )
        view.payments = _rows(
            await session.execute(
                select(a).where(a.c.customer_id == cid).order_by(a.c.id.desc()).limit(limit)
            )
        )
        view.refunds = _rows(
            await session.execute(
                select(n).where(n.c.customer_id == cid).order_by(n.c.id.desc()).limit(limit)
            )
        )
        e, d = table_of(OutboxEvent), table_of(EventDelivery)
        view.events = _rows(
            await session.execute(
                select(
                    e.c.id,
                    e.c.type,
                    e.c.position,
                    e.c.sequence,
                    e.c.subscription_id,
                    e.c.created,
                    e.c.recorded_at,
                    e.c.request_id,
                )
                .where(e.c.customer_id == cid)
                .order_by(e.c.pk.desc())
                .limit(limit)
            )
        )
        ids = [event["id"] for event in view.events]
        if ids:
            view.deliveries = _rows(
                await session.execute(
                    select(
                        d.c.event_id,
                        d.c.kind,
                        d.c.destination,
                        d.c.status,
                        d.c.attempts,
                        d.c.last_status_code,
                        d.c.last_error,
                        d.c.next_attempt_at,
                        d.c.delivered_at,
                    )
                    .where(d.c.event_id.in_(ids))
                    .order_by(d.c.position.desc(), d.c.destination)
                )
            )
    return view
