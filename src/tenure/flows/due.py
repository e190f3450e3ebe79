"""The due-work batch: trial notices, renewals, expiries, for real time or one test clock.

One transaction claims a batch of subscriptions whose ``next_action_at`` has passed
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers can run), decides each
one's action with the pure :func:`schedule.due_action`, and writes every change with a few
set-based statements. Charges for the invoices it created happen after commit (:mod:`collect`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.billing.invoicing import InvoiceRows, LineDraft, build_invoice
from tenure.events.record import record as record_events
from tenure.flows.collect import collect
from tenure.flows.dunning import DUNNING_DUES, DueWork
from tenure.flows.runtime import Runtime
from tenure.kernel.calendar import boundary, period_index
from tenure.payments import attempts
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.schedule import Due, due_action
from tenure.subscriptions.state import Action, Status

BATCH_SIZE: Final = 500


@dataclass(frozen=True, slots=True)
class BatchResult:
    processed: int
    attempt_ids: list[str]


async def run_due(
    runtime: Runtime,
    *,
    test_clock_id: str | None,
    now: datetime,
    actor: str,
    limit: int = BATCH_SIZE,
) -> int:
    """Process one batch and collect its payments; returns how many subscriptions it handled."""
    async with runtime.db.transaction() as session:
        batch = await process_batch(
            runtime, session, test_clock_id=test_clock_id, now=now, actor=actor, limit=limit
        )
    await collect(runtime, batch.attempt_ids, actor=actor)
    return batch.processed


async def process_batch(
    runtime: Runtime,
    session: AsyncSession,
    *,
    test_clock_id: str | None,
    now: datetime,
    actor: str,
    limit: int,
) -> BatchResult:
    scope = (
        Subscription.test_clock_id.is_(None)
        if test_clock_id is None
        else Subscription.test_clock_id == test_clock_id
    )
    claimed = await subs.load(
        session,
        scope,
        Subscription.next_action_at <= now,
        for_update=True,
        skip_locked=True,
        order_by=[Subscription.next_action_at, Subscription.id],
        limit=limit,
    )
    work = _Batch(runtime=runtime, now=now, actor=actor, dunning=DueWork(now=now, actor=actor))
    for sub in claimed:
        work.handle(sub)
    await work.flush(session)
    return BatchResult(processed=len(claimed), attempt_ids=[a["id"] for a in work.attempts])


@dataclass
class _Batch:
    runtime: Runtime
    now: datetime
    actor: str
    dunning: DueWork
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    drafts: list[InvoiceRows] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    close_void: list[str] = field(default_factory=list)
    close_uncollectible: list[str] = field(default_factory=list)
    changed: list[subs.Sub] = field(default_factory=list)

    def handle(self, sub: subs.Sub) -> None:
        due = due_action(sub.timeline(), self.now)
        self.changed.append(sub)
        if due is Due.TRIAL_NOTICE:
            sub.trial_notice_sent = True
            sub.reschedule(self.now)
            self.events.append(sub.event("subscription.trial_will_end", at=self.now))
        elif due is Due.INCOMPLETE_EXPIRY:
            self._end(sub, Action.INCOMPLETE_TIMED_OUT, "incomplete_expired", self.now)
            self.close_void.append(sub.id)
        elif due is Due.END_CANCELED:
            self._end(sub, Action.PERIOD_ENDED_CANCELED, "canceled", sub.current_period_end)
            self.close_uncollectible.append(sub.id)
        elif due in DUNNING_DUES:
            self.dunning.handle(sub, due)
        elif due is Due.RENEW:
            self._renew(sub)
        else:
            sub.reschedule(self.now)  # next_action_at was stale; recompute it

    def _end(self, sub: subs.Sub, action: Action, reason: str, ended_at: datetime) -> None:
        sub.ended_at = ended_at
        sub.ended_reason = reason
        sub.cancel_at_period_end = False
        self.history.append(sub.apply(action, at=self.now, actor=self.actor, reason=reason))
        event = (
            "subscription.incomplete_expired"
            if action is Action.INCOMPLETE_TIMED_OUT
            else "subscription.expired"
        )
        self.events.append(sub.event(event, at=self.now, reason=reason))

    def _renew(self, sub: subs.Sub) -> None:
        plan = self.runtime.catalog.plans.get(sub.plan_id)
        if plan is None or sub.payment_method is None:
            # A plan removed from the catalog cannot be billed; end it visibly instead of
            # looping on it.
            self._end(sub, Action.PERIOD_ENDED_CANCELED, "plan_unavailable", sub.current_period_end)
            return
        start = sub.current_period_end
        index = period_index(sub.billing_anchor, plan.interval, plan.interval_count, start)
        end = boundary(sub.billing_anchor, plan.interval, plan.interval_count, index + 1)
        reason = "trial_end" if sub.state is Status.TRIALING else "subscription_cycle"
        draft = build_invoice(
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            currency=sub.currency,
            billing_reason=reason,
            period_start=start,
            period_end=end,
            lines=[
                LineDraft(_describe(self.runtime, sub), sub.plan_id, start, end, sub.price_amount)
            ],
            tax=self.runtime.tax_rule(sub.market),
            created_at=self.now,
        )
        self.drafts.append(draft)
        self.attempts.append(
            attempts.new_attempt(
                invoice_id=draft.invoice["id"],
                customer_id=sub.customer_id,
                test_clock_id=sub.test_clock_id,
                amount=draft.invoice["total"],
                currency=sub.currency,
                payment_method=sub.payment_method,
                attempt_number=1,
                created_at=self.now,
            )
        )
        sub.current_period_start, sub.current_period_end = start, end
        sub.trial_notice_sent = True
        sub.reschedule(self.now)
        self.events.append(
            invoices.invoice_event(
                "invoice.created", draft.invoice, at=self.now, sequence=sub.next_sequence()
            )
        )

    async def flush(self, session: AsyncSession) -> None:
        self.attempts.extend(await self.dunning.flush(session, self.changed))
        await invoices.insert_invoices(session, self.drafts)
        await attempts.insert_attempts(session, self.attempts)
        for ids, status in ((self.close_void, "void"), (self.close_uncollectible, "uncollectible")):
            if ids:
                await invoices.close(
                    session,
                    await invoices.open_invoice_ids(session, ids),
                    status=status,
                    at=self.now,
                )
        await subs.save(session, self.changed)
        await subs.add_history(session, self.history)
        await record_events(session, self.events)


def _describe(runtime: Runtime, sub: subs.Sub) -> str:
    product = runtime.catalog.products.get(sub.product_id)
    return f"{product.name if product else sub.product_id} ({sub.plan_id})"


def subscription_ids(batch: Sequence[subs.Sub]) -> list[str]:
    return [sub.id for sub in batch]
