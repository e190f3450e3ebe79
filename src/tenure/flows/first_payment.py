"""The first payment of a new subscription: its outcome handler, and checkout's second
transaction.

Checkout writes in two transactions around one provider call (the provider is never called
inside a transaction): the first stores the subscription, its invoice and the pending attempt
(:mod:`tenure.flows.subscribe`); the second, here, stores the outcome, the subscription's
activation and their events. The second starts from the records the first one wrote, kept in
memory, instead of reading them back: it only checks, under the same row locks
:func:`tenure.flows.collect.record_in` takes (subscription -> invoice -> attempt), that nobody
changed them in between. If someone did (a provider webhook recorded the outcome first, the
invoice was voided, ...), it leaves everything to :func:`~tenure.flows.collect.record_outcomes`,
which reads them all again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access import idempotency
from tenure.access.idempotency import Claim
from tenure.billing import service as invoices
from tenure.billing.records import InvoiceRecord
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.flows.collect import (
    Outcome,
    charge_attempt,
    dispatch_settled,
    record_money,
    record_outcomes,
)
from tenure.flows.outcomes import Settlement, payment_failed_event
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.households import service as households
from tenure.households.records import HouseholdRecord
from tenure.payments.attempts import Attempt
from tenure.payments.models import PaymentAttempt
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import Action, Status

_subs = table_of(Subscription)
_attempts = table_of(PaymentAttempt)
_SUB_FIELDS: Final = tuple(column.name for column in _subs.columns)

# What the route answers once the outcome is stored: (subscription, the household it owns,
# its first invoice, the payment outcome) -> the response body, stored with the claimed
# Idempotency-Key in the same transaction.
Respond = Callable[[subs.Sub, HouseholdRecord | None, str | None, Outcome | None], bytes]


class FirstPayment:
    """Outcomes of ``subscription_create`` invoices: the first period, paid at subscribe."""

    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        return None

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        if item.sub is not None and item.sub.state is Status.INCOMPLETE:
            activate(uow, item.sub, item.at)

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        # The subscription stays incomplete (no dunning for a first payment) until its invoice
        # is paid or the 23-hour window closes.
        uow.emit(payment_failed_event(item))

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        """Voiding the first invoice ends a subscription that never started."""
        sub = item.sub
        if sub is None or sub.state is not Status.INCOMPLETE:
            return
        sub.canceled_at = sub.ended_at = item.at
        sub.ended_reason = "invoice_voided"
        uow.drop_pending(sub, at=item.at)
        uow.record(sub.apply(Action.CANCEL_NOW, at=item.at, actor=uow.actor, reason="voided"))
        uow.emit(
            sub.event(
                "subscription.canceled",
                at=item.at,
                at_period_end=False,
                voided_invoices=[item.invoice.id],
                reason="invoice_voided",
            )
        )


def activate(uow: UnitOfWork, sub: subs.Sub, at: datetime) -> None:
    """The first period is paid: the subscription starts (``subscription.activated``)."""
    sub.incomplete_expires_at = None
    uow.record(sub.apply(Action.FIRST_PAYMENT_SUCCEEDED, at=at, actor=uow.actor, reason="paid"))
    uow.emit(sub.event("subscription.activated", at=at))


@dataclass(slots=True)
class Created:
    """What checkout's first transaction wrote, as it wrote it."""

    sub: subs.Sub
    invoice: InvoiceRecord | None
    attempt: Attempt | None


@dataclass(slots=True)
class Charged:
    outcome: Outcome | None
    answer: bytes | None  # the response stored with the claimed key, when there was one


async def charge_first(
    runtime: Runtime,
    created: Created,
    *,
    actor: str,
    claim: Claim | None = None,
    respond: Respond | None = None,
) -> Charged:
    """Charge the pending first attempt (outside any transaction), then store the outcome in
    one transaction, with the response when the route handed one over."""
    attempt = created.attempt
    if attempt is None:
        return Charged(None, None)
    outcome = await charge_attempt(runtime, attempt, recovering=False)
    if outcome.result is None:  # unknown: the attempt stays pending for recovery
        return Charged(outcome, None)
    try:
        answer = await _record_known(
            runtime, created, outcome, actor=actor, claim=claim, respond=respond
        )
    except _Changed:
        # Someone moved first (a webhook, a void): the general path reads everything again.
        await record_outcomes(runtime, [outcome], actor=actor)
        return Charged(outcome, None)
    return Charged(outcome, answer)


class _Changed(Exception):
    """A row checkout wrote was changed before its outcome was stored."""


async def _record_known(
    runtime: Runtime,
    created: Created,
    outcome: Outcome,
    *,
    actor: str,
    claim: Claim | None,
    respond: Respond | None,
) -> bytes | None:
    sub, invoice, attempt = created.sub, created.invoice, created.attempt
    assert invoice is not None and attempt is not None
    async with runtime.db.transaction() as session:
        if not await _unchanged(session, sub, invoice, attempt):
            raise _Changed(sub.id)
        uow = UnitOfWork(runtime, session, actor)
        at = await runtime.now_for(session, sub.test_clock_id)
        item = Settlement(invoice, sub, at, attempt, outcome.result)
        if record_money(uow, item):
            await dispatch_settled(runtime, uow, [item])
        await uow.flush()
        if claim is None or respond is None:
            return None
        household = None
        if runtime.catalog.products[sub.product_id].accounts > 1:
            household = await households.active_by_subscription(session, sub.id)
        answer = respond(sub, household, invoice.id, outcome)
        await idempotency.complete_in(
            session,
            claim,
            status_code=201,
            content_type="application/json",
            body=answer,
            at=datetime.now(UTC),  # wall time, as the gate records it (not a test clock's)
        )
    claim.completed = True
    return answer


async def _unchanged(
    session: AsyncSession, sub: subs.Sub, invoice: InvoiceRecord, attempt: Attempt
) -> bool:
    """Lock the three rows in the usual order and check they are still as written."""
    lock = is_postgres(session)
    query = select(_subs).where(_subs.c.id == sub.id)
    row = (await session.execute(query.with_for_update() if lock else query)).mappings().first()
    if row is None or any(row[name] != getattr(sub, name) for name in _SUB_FIELDS):
        return False
    if not await invoices.unchanged(session, invoice, for_update=lock):
        return False
    query = select(_attempts.c.status).where(_attempts.c.id == attempt.id)
    status = await session.scalar(query.with_for_update() if lock else query)
    return status == attempt.status.value
