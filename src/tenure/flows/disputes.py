"""Disputes (chargebacks) from provider webhooks: opened, won, lost, and the catalog's policy.

Every event about a dispute finds its one row (``(provider, provider dispute id)`` unique):
Stripe's ``dp_…`` id; for Adyen the disputed payment's pspReference (``originalReference``),
shared by every stage of its dispute. The first event opens it (``dispute.opened``) on the
invoice its payment paid; a decision moves it through the transition table of
:mod:`tenure.billing.disputes` (``dispute.won`` / ``dispute.lost``). Events are processed in
the providers' timestamp order; a decision delivered before the opening opens and decides at
once; a repeated decision changes nothing.

A lost dispute applies the catalog's ``[disputes] on_lost`` policy to the subscription:
``cancel_now`` (the default: access ends, open invoices are voided, the customer is on the
free tier), ``cancel_at_period_end`` or ``none``. A dispute won later does not undo it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import disputes
from tenure.billing import service as invoices
from tenure.billing.disputes import DisputeAction, DisputeRecord, DisputeStatus, dispute_event
from tenure.flows.manage import cancel_in
from tenure.flows.provider_events import Outcome
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.ids import new_id
from tenure.payments import attempts
from tenure.payments.inbox import InboxEvent, InboxStatus
from tenure.subscriptions import record as subs
from tenure.subscriptions.record import Sub
from tenure.subscriptions.state import LIVE_STATUSES

log = structlog.get_logger(__name__)

_STRIPE_DECISIONS = {
    "won": DisputeAction.WIN,
    "warning_closed": DisputeAction.WIN,  # an inquiry closed without a chargeback
    "prevented": DisputeAction.WIN,
    "lost": DisputeAction.LOSE,
}
_ADYEN_DECISIONS = {
    "CHARGEBACK_REVERSED": DisputeAction.WIN,
    "PREARBITRATION_WON": DisputeAction.WIN,
    "SECOND_CHARGEBACK": DisputeAction.LOSE,
    "PREARBITRATION_LOST": DisputeAction.LOSE,
    "DISPUTE_DEFENSE_PERIOD_ENDED": DisputeAction.LOSE,  # not defended in time
}
_EVENT_OF = {DisputeStatus.WON: "dispute.won", DisputeStatus.LOST: "dispute.lost"}


@dataclass(frozen=True, slots=True)
class ProviderDispute:
    dispute_id: str
    payment: str | None  # the PaymentIntent / payment pspReference it disputes
    amount: int
    currency: str
    reason: str
    decision: DisputeAction | None  # None: still open


def dispute_of(event: InboxEvent) -> ProviderDispute | None:
    if event.provider == "stripe":
        obj: dict[str, Any] = (event.payload.get("data") or {}).get("object") or {}
        if not obj.get("id"):
            return None
        return ProviderDispute(
            dispute_id=str(obj["id"]),
            payment=str(obj.get("payment_intent") or obj.get("charge") or "") or None,
            amount=int(obj.get("amount") or 0),
            currency=str(obj.get("currency") or "").upper(),
            reason=str(obj.get("reason") or "general")[:64],
            decision=_STRIPE_DECISIONS.get(str(obj.get("status"))),
        )
    item = event.payload
    payment = str(item.get("originalReference") or item.get("pspReference") or "")
    if not payment:
        return None
    amount = item.get("amount") or {}
    extra = item.get("additionalData") or {}
    return ProviderDispute(
        dispute_id=payment,
        payment=payment,
        amount=int(amount.get("value") or 0),
        currency=str(amount.get("currency") or "").upper(),
        reason=str(extra.get("chargebackReasonCode") or item.get("reason") or event.type)[:64],
        decision=_ADYEN_DECISIONS.get(event.type),
    )


async def dispute_event_handler(
    runtime: Runtime, session: AsyncSession, event: InboxEvent
) -> Outcome:
    found = dispute_of(event)
    if found is None:
        return InboxStatus.IGNORED, "no dispute details in the event"
    existing = await disputes.find(session, event.provider, found.dispute_id)
    invoice_id = existing.invoice_id if existing else None
    if invoice_id is None:
        attempt = (
            None if found.payment is None else await attempts.by_charge(session, found.payment)
        )
        if attempt is None:
            return InboxStatus.IGNORED, f"dispute {found.dispute_id} is on no payment Tenure made"
        invoice_id = attempt.invoice_id
    # Lock order: subscription, invoice, dispute.
    unlocked = await invoices.get(session, invoice_id)
    sub = None
    if unlocked.subscription_id:
        sub = await subs.load_one(session, unlocked.subscription_id, for_update=True)
    invoice = await invoices.get(session, invoice_id, for_update=True)
    now = await runtime.now_for(session, sub.test_clock_id if sub else None)
    uow = UnitOfWork(runtime, session, f"provider:{event.provider}")
    if sub is not None:
        uow.track(sub)
    dispute = await disputes.find(session, event.provider, found.dispute_id, for_update=True)
    notes = []
    if dispute is None:
        dispute = DisputeRecord(
            id=new_id("dsp"),
            provider=event.provider,
            provider_dispute_id=found.dispute_id,
            invoice_id=invoice.id,
            customer_id=invoice.customer_id,
            subscription_id=invoice.subscription_id,
            charge_id=found.payment or "",
            amount=found.amount or invoice.amount_paid,
            currency=found.currency or invoice.currency,
            reason=found.reason,
            status=DisputeStatus.OPEN,
            opened_at=now,
            updated_at=now,
        )
        await disputes.insert_dispute(session, dispute)
        uow.emit(_event("dispute.opened", dispute, sub, now))
        notes.append(f"dispute {dispute.id} opened")
    if found.decision is not None and disputes.DISPUTE.allows(dispute.status, found.decision):
        dispute.decide(found.decision, at=now)
        await disputes.save(session, dispute)
        policy = None
        if dispute.status is DisputeStatus.LOST:
            policy = await _apply_policy(uow, sub, now)
        uow.emit(_event(_EVENT_OF[dispute.status], dispute, sub, now, policy=policy))
        notes.append(f"dispute {dispute.id} {dispute.status.value}")
    await uow.flush()
    if not notes:
        return InboxStatus.IGNORED, f"dispute {dispute.id} already {dispute.status.value}"
    return InboxStatus.PROCESSED, "; ".join(notes)


def _event(
    type: str, dispute: DisputeRecord, sub: Sub | None, at: datetime, *, policy: str | None = None
) -> dict[str, Any]:
    seq = sub.next_sequence() if sub else None
    return dispute_event(type, dispute, at=at, sequence=seq, policy_applied=policy)


async def _apply_policy(uow: UnitOfWork, sub: Sub | None, now: datetime) -> str:
    """The catalog's lost-dispute policy; returns what was done (for ``dispute.lost``)."""
    policy = uow.runtime.catalog.disputes.on_lost
    if policy == "none" or sub is None:
        return "none"
    if sub.state not in LIVE_STATUSES or sub.channel != "web":
        return "none (the subscription is no longer live)"
    if policy == "cancel_at_period_end":
        if sub.cancel_at_period_end:
            return "none (already canceling at period end)"
        await cancel_in(
            uow, sub, now, at_period_end=True, reason="dispute_lost", ended_reason="dispute_lost"
        )
        return policy
    await cancel_in(
        uow, sub, now, at_period_end=False, reason="dispute_lost", ended_reason="dispute_lost"
    )
    log.info("dispute.policy_applied", subscription=sub.id, policy=policy)
    return policy
