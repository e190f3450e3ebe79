"""The due-work batch: trial notices, renewals, expiries, for real time or one test clock.

One transaction claims a batch of subscriptions whose ``next_action_at`` has passed
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers can run), decides each
one's action with the pure :func:`schedule.due_action`, and writes every change with a few
set-based statements. Charges for the invoices it created happen after commit (:mod:`collect`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance, promotions
from tenure.billing import service as invoices
from tenure.billing.invoicing import InvoiceRows, build_invoice
from tenure.billing.promotions import ActiveDiscount
from tenure.events.record import record as record_events
from tenure.flows.collect import collect, settle_paid
from tenure.flows.dunning import DUNNING_DUES, DueWork
from tenure.flows.lines import period_lines
from tenure.flows.opening import open_invoice
from tenure.flows.runtime import Runtime
from tenure.kernel.calendar import boundary, period_index
from tenure.payments import attempts
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
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
    only: str | None = None,
) -> int:
    """Process one batch and collect its payments; returns how many subscriptions it handled.

    ``only``: just this subscription, if it is due (``tenure subscription rerun``).
    """
    async with runtime.db.transaction() as session:
        batch = await process_batch(
            runtime,
            session,
            test_clock_id=test_clock_id,
            now=now,
            actor=actor,
            limit=limit,
            only=only,
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
    only: str | None = None,
) -> BatchResult:
    scope = (
        Subscription.test_clock_id.is_(None)
        if test_clock_id is None
        else Subscription.test_clock_id == test_clock_id
    )
    if only is not None:
        scope = scope & (Subscription.id == only)
    claimed = await subs.load(
        session,
        scope,
        Subscription.next_action_at <= now,
        for_update=True,
        skip_locked=True,
        order_by=[Subscription.next_action_at, Subscription.id],
        limit=limit,
    )
    discounts = await promotions.active_for(session, [sub.id for sub in claimed])
    work = _Batch(
        runtime=runtime,
        now=now,
        actor=actor,
        dunning=DueWork(now=now, actor=actor),
        discounts=discounts,
    )
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
    discounts: dict[str, ActiveDiscount] = field(default_factory=dict)
    used_discounts: list[ActiveDiscount] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    drafts: list[InvoiceRows] = field(default_factory=list)
    renewals: list[tuple[InvoiceRows, subs.Sub]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    close_void: list[str] = field(default_factory=list)
    close_uncollectible: list[str] = field(default_factory=list)
    applied_changes: list[str] = field(default_factory=list)
    switched: dict[str, str] = field(default_factory=dict)  # subscription -> previous plan
    dropped_changes: list[str] = field(default_factory=list)
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
        cancel = sub.pending.pop(ChangeKind.CANCEL, None)
        if cancel is not None and action is Action.PERIOD_ENDED_CANCELED:
            self.applied_changes.append(cancel.id)
        elif cancel is not None:
            self.dropped_changes.append(cancel.id)
        self.dropped_changes.extend(change.id for change in sub.pending.values())
        sub.pending.clear()
        self.history.append(sub.apply(action, at=self.now, actor=self.actor, reason=reason))
        event = (
            "subscription.incomplete_expired"
            if action is Action.INCOMPLETE_TIMED_OUT
            else "subscription.expired"
        )
        self.events.append(sub.event(event, at=self.now, reason=reason))

    def _renew(self, sub: subs.Sub) -> None:
        self._apply_pending_plan(sub)
        plan = self.runtime.catalog.plans.get(sub.plan_id)
        if plan is None or sub.market not in self.runtime.catalog.markets:
            # A plan removed from the catalog cannot be billed; end it visibly instead of
            # looping on it.
            self._end(sub, Action.PERIOD_ENDED_CANCELED, "plan_unavailable", sub.current_period_end)
            return
        start = sub.current_period_end
        index = period_index(sub.billing_anchor, plan.interval, plan.interval_count, start)
        end = boundary(sub.billing_anchor, plan.interval, plan.interval_count, index + 1)
        reason = "trial_end" if sub.state is Status.TRIALING else "subscription_cycle"
        discount = self.discounts.get(sub.id)
        lines, used = period_lines(self.runtime.catalog, sub, start, end, discount)
        if used and discount is not None:
            self.used_discounts.append(discount)
        draft = build_invoice(
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            currency=sub.currency,
            billing_reason=reason,
            period_start=start,
            period_end=end,
            lines=lines,
            tax=self.runtime.tax_rule(sub.market, sub.region),
            created_at=self.now,
        )
        self.drafts.append(draft)
        self.renewals.append((draft, sub))
        sub.current_period_start, sub.current_period_end = start, end
        sub.trial_notice_sent = True
        sub.reschedule(self.now)
        if sub.id in self.switched:  # after the period moved, so the event shows the new one
            self.events.append(
                sub.event(
                    "subscription.plan_changed",
                    at=self.now,
                    previous_plan=self.switched[sub.id],
                    change_type="downgrade",
                    effective="period_end",
                )
            )

    def _collect_or_settle(self, draft: InvoiceRows, sub: subs.Sub) -> None:
        """Charge what is due; an invoice covered by credit is paid on the spot.

        A subscription with no payment method gets an attempt all the same: the provider
        declines it, and the decline takes the one dunning path every failure takes.
        """
        attempt = open_invoice(
            draft, sub, payment_method=sub.payment_method, at=self.now, events=self.events
        )
        if attempt is not None:
            self.attempts.append(attempt)
        else:
            settle_paid(
                sub, at=self.now, actor=self.actor, history=self.history, events=self.events
            )

    def _apply_pending_plan(self, sub: subs.Sub) -> None:
        """A downgrade scheduled for the period end takes effect as the new period starts."""
        change = sub.pending_plan
        if change is None or change.effective_at > self.now or change.plan_id is None:
            return
        plan = self.runtime.catalog.plans.get(change.plan_id)
        market = self.runtime.catalog.markets.get(sub.market)
        del sub.pending[ChangeKind.PLAN]
        if plan is None or market is None or market.code not in plan.prices:
            self.dropped_changes.append(change.id)  # no longer sold here: keep the old plan
            return
        self.switched[sub.id] = sub.plan_id
        sub.plan_id, sub.product_id = plan.id, plan.product
        sub.price_amount = plan.prices[market.code]
        self.applied_changes.append(change.id)

    async def flush(self, session: AsyncSession) -> None:
        await changes.close_ids(session, self.applied_changes, status="applied", at=self.now)
        await changes.close_ids(session, self.dropped_changes, status="canceled", at=self.now)
        await promotions.consume(session, self.used_discounts)
        await balance.settle(session, self.drafts, at=self.now)
        for draft, sub in self.renewals:
            self._collect_or_settle(draft, sub)
        self.attempts.extend(await self.dunning.flush(session, self.changed))
        await invoices.insert_invoices(session, self.drafts)
        await attempts.insert_attempts(session, self.attempts)
        for ids, status in ((self.close_void, "void"), (self.close_uncollectible, "uncollectible")):
            if ids:
                await invoices.close_for_subscriptions(session, ids, status=status, at=self.now)
        await subs.save(session, self.changed)
        await subs.add_history(session, self.history)
        await record_events(session, self.events)
