"""Data-subject requests: erase a customer's personal data, keeping the financial records.

What is personal in Tenure: the customer's email, their ``external_id`` (your identity
system's id for the person), metadata values (yours, free text: customers, subscriptions,
invoices), household address hashes, grant reasons (support free text), and copies of those
in event payloads. Erasing pseudonymizes or removes each of them in one transaction and
emits ``customer.erased``. Ids, amounts, dates, invoices, credit notes and payment attempts
stay: tax and accounting law require them, and they say nothing about the person without the
fields above. A customer with a live subscription is refused (409) until it is canceled and
has ended: erasing someone who is still billed would leave a subscription no one can own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access import audit
from tenure.billing.models import Invoice
from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.db.touched import note_recomputed
from tenure.entitlements.models import EntitlementRow, Grant
from tenure.events.models import OutboxEvent
from tenure.events.record import event_row, record
from tenure.flows.runtime import Runtime
from tenure.households.models import Household
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import LIVE_STATUSES

# Keys whose values are personal wherever they appear in an event payload.
PERSONAL_KEYS: Final = frozenset({"email", "external_id", "metadata", "address", "name"})
ERASED: Final = "[erased]"


class CustomerHasLiveSubscription(Conflict):
    code = "customer_has_live_subscription"


def pseudonym(customer_id: str) -> str:
    return f"erased_{customer_id}"


def scrub(value: Any) -> Any:
    """A payload with every personal key's value replaced (recursively)."""
    if isinstance(value, dict):
        return {
            key: (({} if key == "metadata" else ERASED) if key in PERSONAL_KEYS else scrub(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


async def erase(runtime: Runtime, *, customer_id: str, actor: str) -> Customer:
    """Erase (idempotent: an erased customer is answered as it is)."""
    async with runtime.db.transaction() as session:
        customer = await customers.get(session, customer_id, for_update=True)
        if customer.erased_at is not None:
            return customer
        live = await session.scalar(
            select(Subscription.id)
            .where(
                Subscription.customer_id == customer_id,
                Subscription.status.in_([status.value for status in LIVE_STATUSES]),
            )
            .limit(1)
        )
        if live is not None:
            raise CustomerHasLiveSubscription(
                f"{customer_id} has a live subscription ({live}); cancel it now "
                "(at_period_end=false) first, then erase",
                subscription=live,
            )
        now = await runtime.now_for(session, customer.test_clock_id)
        await _erase(session, customer, now)
        await record(
            session,
            [
                event_row(
                    "customer.erased",
                    created=now,
                    data={"customer": customer.id, "erased_at": rfc3339(now)},
                    customer_id=customer.id,
                )
            ],
        )
        await audit.write(
            session,
            actor=actor,
            action="erase_customer",
            target_type="customer",
            target_id=customer.id,
            customer_id=customer.id,
            after={"erased_at": rfc3339(now)},
        )
        note_recomputed(session, [customer.id])  # drop cached entitlements after commit
    return customer


async def _erase(session: AsyncSession, customer: Customer, now: datetime) -> None:
    customer.external_id = pseudonym(customer.id)
    customer.email = f"{customer.id}@erased.invalid"
    customer.metadata_ = {}
    customer.erased_at = now
    await session.flush()
    await session.execute(
        update(EntitlementRow)
        .where(EntitlementRow.customer_id == customer.id)
        .values(external_id=customer.external_id)
    )
    for model in (Subscription, Invoice):
        await session.execute(
            update(model).where(model.customer_id == customer.id).values(metadata_={})
        )
    await session.execute(
        update(Grant).where(Grant.customer_id == customer.id).values(reason=ERASED)
    )
    await session.execute(
        update(Household)
        .where(Household.manager_customer_id == customer.id)
        .values(address_hash=None)
    )
    events = (
        await session.execute(
            select(OutboxEvent.pk, OutboxEvent.data).where(OutboxEvent.customer_id == customer.id)
        )
    ).all()
    for pk, data in events:
        cleaned = scrub(data)
        if cleaned != data:
            await session.execute(
                update(OutboxEvent).where(OutboxEvent.pk == pk).values(data=cleaned)
            )
