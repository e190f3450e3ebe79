"""Collecting invoices: call the provider outside any transaction, then record outcomes.

The order is always: attempt stored (committed) -> provider called -> outcome stored. A crash
between the last two leaves a pending attempt whose lease runs out; :func:`recover_stale`
then asks the provider about that idempotency key before anything else is tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.events.record import record as record_events
from tenure.flows.dunning import Ledger
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import rfc3339
from tenure.payments import attempts
from tenure.payments.ports import ChargeResult, ChargeStatus, ProviderUnavailable
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import Action, Status

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    attempt_id: str
    invoice_id: str
    result: ChargeResult | None  # None: outcome unknown, the attempt stays pending


async def collect(
    runtime: Runtime, attempt_ids: Sequence[str], *, actor: str, recovering: bool = False
) -> list[Outcome]:
    """Charge the given pending attempts and record what the provider said."""
    if not attempt_ids:
        return []
    async with runtime.db.read() as session:
        pending = await attempts.load_pending(session, attempt_ids, for_update=False)
    outcomes = [await _charge(runtime, attempt, recovering=recovering) for attempt in pending]
    known = [outcome for outcome in outcomes if outcome.result is not None]
    if known:
        await record_outcomes(runtime, known, actor=actor)
    return outcomes


async def _charge(runtime: Runtime, attempt: dict[str, Any], *, recovering: bool) -> Outcome:
    request = attempts.charge_request(attempt, f"Invoice {attempt['invoice_id']}")
    try:
        result = await runtime.provider.lookup(request.idempotency_key) if recovering else None
        if result is None:
            result = await runtime.provider.charge(request)
    except ProviderUnavailable as error:
        log.warning("payment.outcome_unknown", attempt=attempt["id"], error=str(error))
        result = None
    return Outcome(attempt["id"], attempt["invoice_id"], result)


async def recover_stale(runtime: Runtime, *, limit: int = 100) -> int:
    """Resolve attempts left pending by a crashed caller; returns how many were resolved."""
    async with runtime.db.transaction() as session:
        ids = await attempts.claim_stale(session, wall_now=datetime.now(UTC), limit=limit)
    outcomes = await collect(runtime, ids, actor="worker:recovery", recovering=True)
    return sum(1 for outcome in outcomes if outcome.result is not None)


async def record_outcomes(runtime: Runtime, outcomes: Sequence[Outcome], *, actor: str) -> None:
    """One transaction: attempts, invoices and subscriptions move together, with their events.

    Locks are taken subscription -> invoice -> attempt, the same order every flow uses.
    """
    async with runtime.db.transaction() as session:
        by_invoice = {o.invoice_id: o for o in outcomes}
        unlocked = await invoices.load(session, list(by_invoice))
        sub_ids = sorted({i["subscription_id"] for i in unlocked.values() if i["subscription_id"]})
        locked_subs = await subs.load(
            session,
            Subscription.id.in_(sub_ids),
            for_update=True,
            order_by=[Subscription.id],
        )
        by_sub = {sub.id: sub for sub in locked_subs}
        invoice_rows = await invoices.load(session, list(by_invoice), for_update=True)
        still_pending = {
            a["id"]: a
            for a in await attempts.load_pending(
                session, [o.attempt_id for o in outcomes], for_update=True
            )
        }
        times = await runtime.times_for(session, {s.test_clock_id for s in locked_subs} | {None})
        writer = _OutcomeWriter(
            actor=actor, dunning=await Ledger.load(runtime, session, locked_subs)
        )
        for outcome in outcomes:
            if outcome.attempt_id not in still_pending or outcome.result is None:
                continue  # another worker recorded it first
            invoice = invoice_rows[outcome.invoice_id]
            sub = by_sub.get(invoice["subscription_id"] or "")
            at = times[sub.test_clock_id if sub else None]
            token = still_pending[outcome.attempt_id]["payment_method"]
            writer.add(outcome, outcome.result, invoice, sub, at, token)
        await writer.flush(session)


class _OutcomeWriter:
    def __init__(self, *, actor: str, dunning: Ledger) -> None:
        self.actor = actor
        self.dunning = dunning
        self.completed: list[tuple[str, ChargeResult, datetime]] = []
        self.paid: list[tuple[dict[str, Any], datetime]] = []
        self.subs: dict[str, subs.Sub] = {}
        self.history: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def add(
        self,
        outcome: Outcome,
        result: ChargeResult,
        invoice: dict[str, Any],
        sub: subs.Sub | None,
        at: datetime,
        token: str,
    ) -> None:
        self.completed.append((outcome.attempt_id, result, at))
        if sub is not None:
            self.subs[sub.id] = sub  # its event sequence moves with every event below
        seq = sub.next_sequence if sub else (lambda: None)
        if result.status is ChargeStatus.SUCCEEDED:
            if invoice["status"] != "open":
                # Paid after it was voided (canceled meanwhile): keep the record, flag it loudly.
                log.error("payment.succeeded_on_closed_invoice", invoice=invoice["id"])
                return
            self.paid.append((invoice, at))
            paid = {**invoice, "status": "paid"}
            self.events.append(invoices.invoice_event("invoice.paid", paid, at=at, sequence=seq()))
            if sub is not None:
                self._paid(sub, at)
        else:
            if sub is not None and invoice["status"] == "open":
                self.dunning.failed(sub, invoice, token, result, at)
            next_attempt = sub.next_retry_at if sub is not None else None
            self.events.append(
                invoices.invoice_event(
                    "invoice.payment_failed",
                    invoice,
                    at=at,
                    sequence=seq(),
                    decline_code=result.decline_code,
                    failure_message=result.message,
                    retryable=result.retryable,
                    next_payment_attempt=None if next_attempt is None else rfc3339(next_attempt),
                )
            )
            if sub is not None:
                self._failed(sub, at, result)

    def _paid(self, sub: subs.Sub, at: datetime) -> None:
        action, event = {
            Status.INCOMPLETE: (Action.FIRST_PAYMENT_SUCCEEDED, "subscription.activated"),
            Status.TRIALING: (Action.TRIAL_CONVERTED, "subscription.activated"),
            Status.ACTIVE: (Action.RENEWED, "subscription.renewed"),
            Status.PAST_DUE: (Action.PAYMENT_RECOVERED, "subscription.recovered"),
            Status.ON_HOLD: (Action.PAYMENT_RECOVERED, "subscription.recovered"),
        }.get(sub.state, (None, ""))
        if action is None:
            return
        extra = self.dunning.recovered(sub, at) if action is Action.PAYMENT_RECOVERED else {}
        sub.grace_ends_at = None
        sub.incomplete_expires_at = None
        self.history.append(sub.apply(action, at=at, actor=self.actor, reason="invoice paid"))
        self.events.append(sub.event(event, at=at, **extra))

    def _failed(self, sub: subs.Sub, at: datetime, result: ChargeResult) -> None:
        if sub.state not in (Status.TRIALING, Status.ACTIVE):
            return  # incomplete stays incomplete; past_due and on_hold stay as they are
        reason = f"payment failed: {result.decline_code}"
        self.history.append(
            sub.apply(Action.PAYMENT_FAILED, at=at, actor=self.actor, reason=reason)
        )
        self.events.append(
            sub.event(
                "subscription.past_due",
                at=at,
                decline_code=result.decline_code,
                grace_ends_at=None if sub.grace_ends_at is None else rfc3339(sub.grace_ends_at),
                hold_ends_at=None if sub.hold_ends_at is None else rfc3339(sub.hold_ends_at),
                next_payment_attempt=None
                if sub.next_retry_at is None
                else rfc3339(sub.next_retry_at),
            )
        )

    async def flush(self, session: AsyncSession) -> None:
        await attempts.complete(session, self.completed)
        await self.dunning.flush(session)
        await invoices.mark_paid(session, self.paid)
        await subs.save(session, self.subs.values())
        await subs.add_history(session, self.history)
        await record_events(session, self.events)
