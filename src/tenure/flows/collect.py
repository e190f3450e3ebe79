"""Collecting invoices: call the provider outside any transaction, then record outcomes.

The order is always: attempt stored (committed) -> provider called -> outcome stored. A crash
between the last two leaves a pending attempt whose lease runs out; :func:`recover_stale`
then asks the provider about that idempotency key before anything else is tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance
from tenure.billing import service as invoices
from tenure.catalog.model import Catalog
from tenure.events.record import record as record_events
from tenure.flows.dunning import Ledger
from tenure.flows.plan_switch import apply_plan, change_type_of
from tenure.flows.refunds import schedule_refund
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import rfc3339
from tenure.observability import PAYMENTS
from tenure.observability.metrics import count_charge
from tenure.payments import attempts
from tenure.payments.ports import ChargeResult, ChargeStatus, ProviderUnavailable
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import Action, Status

log = structlog.get_logger(__name__)

PROVIDER_CONCURRENCY: Final = 16


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
    # Provider calls are network-bound: run a bounded number at once (a renewal batch would
    # otherwise pay one round trip per invoice, in series).
    gate = asyncio.Semaphore(PROVIDER_CONCURRENCY)

    async def charge(attempt: dict[str, Any]) -> Outcome:
        async with gate:
            return await _charge(runtime, attempt, recovering=recovering)

    outcomes = list(await asyncio.gather(*(charge(attempt) for attempt in pending)))
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
    PAYMENTS.labels("unknown" if result is None else result.status.value).inc()
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
            actor=actor,
            catalog=runtime.catalog,
            dunning=await Ledger.load(runtime, session, locked_subs),
        )
        for outcome in outcomes:
            if outcome.attempt_id not in still_pending or outcome.result is None:
                continue  # another worker recorded it first
            invoice = invoice_rows[outcome.invoice_id]
            sub = by_sub.get(invoice["subscription_id"] or "")
            at = times[sub.test_clock_id if sub else None]
            pending_row = still_pending[outcome.attempt_id]
            writer.add(
                outcome,
                outcome.result,
                invoice,
                sub,
                at,
                int(pending_row["amount"]),
                str(pending_row["payment_method"]),
            )
        await writer.flush(session)


_ON_PAID: dict[Status, tuple[Action, str]] = {
    Status.INCOMPLETE: (Action.FIRST_PAYMENT_SUCCEEDED, "subscription.activated"),
    Status.TRIALING: (Action.TRIAL_CONVERTED, "subscription.activated"),
    Status.ACTIVE: (Action.RENEWED, "subscription.renewed"),
    Status.PAST_DUE: (Action.PAYMENT_RECOVERED, "subscription.recovered"),
    Status.ON_HOLD: (Action.PAYMENT_RECOVERED, "subscription.recovered"),
}


def settle_paid(
    sub: subs.Sub,
    *,
    at: datetime,
    actor: str,
    history: list[dict[str, Any]],
    events: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> None:
    """The subscription side of a paid subscription invoice: activate, renew or recover."""
    found = _ON_PAID.get(sub.state)
    if found is None:
        return
    action, event = found
    sub.grace_ends_at = None
    sub.incomplete_expires_at = None
    history.append(sub.apply(action, at=at, actor=actor, reason="invoice paid"))
    events.append(sub.event(event, at=at, **(extra or {})))


def _payment_failed(
    invoice: dict[str, Any],
    result: ChargeResult,
    *,
    at: datetime,
    sequence: int | None,
    next_attempt: datetime | None = None,
) -> dict[str, Any]:
    return invoices.invoice_event(
        "invoice.payment_failed",
        invoice,
        at=at,
        sequence=sequence,
        decline_code=result.decline_code,
        failure_message=result.message,
        retryable=result.retryable,
        next_payment_attempt=None if next_attempt is None else rfc3339(next_attempt),
    )


class _OutcomeWriter:
    def __init__(self, *, actor: str, catalog: Catalog, dunning: Ledger) -> None:
        self.actor = actor
        self.dunning = dunning
        self.catalog = catalog
        self.applied_changes: list[str] = []
        self.dropped_changes: list[str] = []
        self.voided: list[dict[str, Any]] = []
        self.late: list[tuple[dict[str, Any], int, str, datetime]] = []
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
        amount: int,
        token: str,
    ) -> None:
        self.completed.append((outcome.attempt_id, result, at))
        count_charge(invoice["billing_reason"], result.status.value, result.retryable)
        if sub is not None:
            self.subs[sub.id] = sub  # its event sequence moves with every event below
        seq = sub.next_sequence if sub else (lambda: None)
        if result.status is ChargeStatus.SUCCEEDED:
            if invoice["status"] != "open":
                # The money arrived after the invoice was closed (the subscription ended while
                # the charge was in flight): record it and give it back automatically.
                log.warning("payment.succeeded_on_closed_invoice", invoice=invoice["id"])
                self.late.append((invoice, amount, result.charge_id or "", at))
                return
            self.paid.append((invoice, at))
            paid = {**invoice, "status": "paid"}
            self.events.append(invoices.invoice_event("invoice.paid", paid, at=at, sequence=seq()))
            if sub is not None and invoice["billing_reason"] == "subscription_update":
                self._plan_change_paid(sub, at)
            elif sub is not None:
                self._paid(sub, at)
        elif invoice["billing_reason"] == "subscription_update":
            self._plan_change_failed(invoice, sub, result, at, seq)
        else:
            if sub is not None and invoice["status"] == "open":
                self.dunning.failed(sub, invoice, token, result, at)
            retry_at = sub.next_retry_at if sub is not None else None
            self.events.append(
                _payment_failed(invoice, result, at=at, sequence=seq(), next_attempt=retry_at)
            )
            if sub is not None:
                self._failed(sub, at, result)

    def _plan_change_paid(self, sub: subs.Sub, at: datetime) -> None:
        change = sub.pending.pop(ChangeKind.PLAN_NOW, None)
        if change is None or change.plan_id is None or change.plan_id not in self.catalog.plans:
            return
        self.applied_changes.append(change.id)
        dropped = sub.pending.pop(ChangeKind.PLAN, None)  # replaced by this change
        if dropped is not None:
            self.dropped_changes.append(dropped.id)
        self.history.append(
            apply_plan(
                self.catalog,
                sub,
                change.plan_id,
                effective_at=change.effective_at,
                at=at,
                actor=self.actor,
                events=self.events,
                change_type=change_type_of(self.catalog, sub, change.plan_id),
            )
        )

    def _plan_change_failed(
        self,
        invoice: dict[str, Any],
        sub: subs.Sub | None,
        result: ChargeResult,
        at: datetime,
        seq: Any,
    ) -> None:
        """A declined change charge: the invoice is voided, the change dropped, nothing else."""
        self.events.append(_payment_failed(invoice, result, at=at, sequence=seq()))
        self.voided.append(invoice)
        if sub is not None and (change := sub.pending.pop(ChangeKind.PLAN_NOW, None)):
            self.dropped_changes.append(change.id)

    def _paid(self, sub: subs.Sub, at: datetime) -> None:
        recovering = sub.state in (Status.PAST_DUE, Status.ON_HOLD)
        extra = self.dunning.recovered(sub, at) if recovering else {}
        settle_paid(
            sub, at=at, actor=self.actor, history=self.history, events=self.events, extra=extra
        )

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
        at = self.completed[0][2] if self.completed else None
        if at is not None:
            await changes.close_ids(session, self.applied_changes, status="applied", at=at)
            await changes.close_ids(session, self.dropped_changes, status="canceled", at=at)
        for invoice in self.voided:
            await invoices.close(
                session, [invoice["id"]], status="void", at=at or invoice["created_at"]
            )
            await balance.restore(session, invoice, at=at or invoice["created_at"])
        await attempts.complete(session, self.completed)
        await self.dunning.flush(session)
        await invoices.mark_paid(session, self.paid)
        for invoice, amount, charge_id, paid_at in self.late:
            await schedule_refund(
                session,
                invoice=invoice,
                amount=amount,
                charge_id=charge_id,
                at=paid_at,
                reason="paid after the invoice was closed; refunded automatically",
            )
        await subs.save(session, self.subs.values())
        await subs.add_history(session, self.history)
        await record_events(session, self.events)
