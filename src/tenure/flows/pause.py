"""Pausing and resuming a web subscription on request (docs/retention.md#pause-and-resume).

A pause starts at the period end by default (nothing to prorate, as Google Play does) or now,
when the catalog allows it, with the unused part of the paid period credited to the balance.
The limits are the catalog's (``[retention.pause]``, per market and product). The pause itself
and its end are :mod:`tenure.flows.pausing`, shared with the due batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.billing.proration import ProrationMode, prorate, unused_fraction
from tenure.catalog.model import Plan
from tenure.catalog.retention import PauseRule
from tenure.flows import pausing
from tenure.flows.due import run_due
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.calendar import Interval, add_interval, boundary, period_index
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.state import Action, Status, transition

MIN_PAUSE = timedelta(days=1)


class PauseNotAllowed(Conflict):
    code = "pause_not_allowed"


class PauseLimitReached(Conflict):
    code = "pause_limit_reached"


class AlreadyPaused(Conflict):
    code = "subscription_already_paused"


class NotPaused(Conflict):
    code = "subscription_not_paused"


@dataclass(frozen=True, slots=True)
class PauseRequest:
    resumes_at: datetime | None = None
    periods: int | None = None
    start: str | None = None  # "period_end" | "now"; the catalog's default when None


async def _locked(session: AsyncSession, subscription_id: str) -> subs.Sub:
    sub = await subs.load_one(session, subscription_id, for_update=True)
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
    return sub


def _is_annual(plan: Plan) -> bool:
    if plan.interval is Interval.YEAR:
        return True
    return plan.interval is Interval.MONTH and plan.interval_count >= 12


def _check_pausable(sub: subs.Sub, plan: Plan, rule: PauseRule) -> None:
    if sub.state is Status.PAUSED:
        raise AlreadyPaused(
            f"{sub.id} is paused until {rfc3339(sub.current_period_end)}; resume it first",
            resumes_at=rfc3339(sub.current_period_end),
        )
    transition(sub.state, Action.SCHEDULE_PAUSE)  # 409 unless active
    if sub.pending_pause is not None:
        raise Conflict(
            f"{sub.id} already has a pause scheduled; resume to drop it, then pause again",
            code="pause_already_scheduled",
        )
    if sub.cancel_at_period_end:
        raise Conflict(
            f"{sub.id} is set to cancel at {rfc3339(sub.current_period_end)}; reactivate it "
            "before pausing",
            code="subscription_canceling",
        )
    if ChangeKind.PLAN_NOW in sub.pending:
        raise Conflict(f"a plan change of {sub.id} is being paid", code="payment_pending")
    if not rule.allowed:
        raise PauseNotAllowed(f"{sub.product_id} in {sub.market} cannot pause")
    if _is_annual(plan) and not rule.annual:
        raise PauseNotAllowed(f"{plan.id} is billed yearly; yearly plans cannot pause")


def _window(
    sub: subs.Sub, plan: Plan, rule: PauseRule, request: PauseRequest, starts_at: datetime
) -> datetime:
    """When the pause ends, checked against the rule's longest pause."""
    index = period_index(sub.billing_anchor, plan.interval, plan.interval_count, starts_at)
    aligned = boundary(sub.billing_anchor, plan.interval, plan.interval_count, index) == starts_at

    def after(periods: int) -> datetime:
        if aligned:  # stays on the anchor's calendar (clamped month ends)
            return boundary(sub.billing_anchor, plan.interval, plan.interval_count, index + periods)
        return add_interval(starts_at, plan.interval, plan.interval_count * periods)

    longest = after(rule.max_periods)
    if request.periods is not None:
        if not 1 <= request.periods <= rule.max_periods:
            raise InvalidRequest(
                f"periods must be between 1 and {rule.max_periods} for {plan.id}",
                code="pause_too_long",
                max_periods=rule.max_periods,
            )
        return after(request.periods)
    assert request.resumes_at is not None
    resumes_at = request.resumes_at
    if resumes_at < starts_at + MIN_PAUSE:
        raise InvalidRequest(
            f"resumes_at must be at least a day after the pause starts ({rfc3339(starts_at)})",
            code="invalid_pause",
            starts_at=rfc3339(starts_at),
        )
    if resumes_at > longest:
        raise InvalidRequest(
            f"a pause of {plan.id} lasts at most {rule.max_periods} periods: resume by "
            f"{rfc3339(longest)}",
            code="pause_too_long",
            latest_resume=rfc3339(longest),
        )
    return resumes_at


async def pause(
    runtime: Runtime, *, subscription_id: str, request: PauseRequest, actor: str
) -> None:
    """Schedule a pause for the period end, or start one now.

    Effects: ``subscription.pause_scheduled`` (at period end; ``subscription.paused`` follows
    from the due batch), or ``subscription.paused`` with the credited amount (now).
    """
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "pause")
        now = await runtime.now_for(session, sub.test_clock_id)
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        await apply_pause(uow, sub, request, now)
        await uow.flush()


def refuse_pause(runtime: Runtime, sub: subs.Sub, request: PauseRequest) -> str:
    """Raise if ``sub`` may not pause as asked (the limits that need no database); returns
    where the pause starts (``period_end`` or ``now``)."""
    catalog = runtime.catalog
    plan = catalog.plan(sub.plan_id)
    rule = catalog.retention.pause_rule(sub.market, sub.product_id)
    _check_pausable(sub, plan, rule)
    start = request.start or rule.start
    if start == "now" and not rule.allow_now:
        raise PauseNotAllowed(
            f"a pause of {sub.product_id} in {sub.market} starts at the period end",
            start_allowed="period_end",
        )
    return start


async def apply_pause(uow: UnitOfWork, sub: subs.Sub, request: PauseRequest, now: datetime) -> None:
    """Check every limit, then schedule or start the pause (in the caller's unit of work)."""
    session, catalog = uow.session, uow.runtime.catalog
    plan = catalog.plan(sub.plan_id)
    rule = catalog.retention.pause_rule(sub.market, sub.product_id)
    start = refuse_pause(uow.runtime, sub, request)
    starts_at = now if start == "now" else sub.current_period_end
    resumes_at = _window(sub, plan, rule, request, starts_at)
    used = await changes.pauses_since(
        session, sub.customer_id, now - timedelta(days=rule.window_days)
    )
    if used >= rule.max_pauses:
        raise PauseLimitReached(
            f"{sub.customer_id} has paused {used} times in the last {rule.window_days} "
            f"days (at most {rule.max_pauses})",
            max_pauses=rule.max_pauses,
            window_days=rule.window_days,
        )
    if start == "now":
        credited = await _credit_unused(uow, sub, now, plan)
        await changes.add(
            session,
            sub.pending,
            subscription_id=sub.id,
            kind=ChangeKind.PAUSE,
            effective_at=now,
            resumes_at=resumes_at,
            at=now,
            status="applied",
        )
        pausing.begin(
            uow,
            sub,
            starts_at=now,
            resumes_at=resumes_at,
            now=now,
            reason="requested",
            credited=credited,
        )
        return
    await changes.add(
        session,
        sub.pending,
        subscription_id=sub.id,
        kind=ChangeKind.PAUSE,
        effective_at=starts_at,
        resumes_at=resumes_at,
        at=now,
    )
    uow.record(sub.apply(Action.SCHEDULE_PAUSE, at=now, actor=uow.actor, reason="requested"))
    uow.emit(sub.event("subscription.pause_scheduled", at=now))


async def _credit_unused(uow: UnitOfWork, sub: subs.Sub, now: datetime, plan: Plan) -> int:
    """The unused part of the paid current period goes to the balance (what was paid for it,
    net of refunds, times the unused share of the period that invoice billed)."""
    invoice = await invoices.paid_for_period_starting(uow.session, sub.id, sub.current_period_start)
    if invoice is None:
        return 0
    product = uow.runtime.catalog.products.get(plan.product)
    mode = ProrationMode(product.proration) if product else ProrationMode.DAYS
    # Over the period the invoice billed: free days added by an extension offer are not money.
    share = unused_fraction(invoice.period_start, invoice.period_end, now, mode)
    amount = prorate(max(invoice.total - invoice.amount_refunded, 0), share)
    uow.give_back(invoice, amount, reason="pause_credit", at=now)
    return amount


async def resume(runtime: Runtime, *, subscription_id: str, actor: str) -> None:
    """End a pause early (it bills from now), or drop a pause that has not started yet.

    Effects: ``subscription.resumed`` (with the renewal's ``invoice.created`` and payment
    events), or ``subscription.pause_canceled`` for a scheduled pause.
    """
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "resume")
        now = await runtime.now_for(session, sub.test_clock_id)
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        scheduled = sub.pending_pause
        if scheduled is not None:
            data = subs.pause_of(sub)
            await changes.close(session, sub.pending, [ChangeKind.PAUSE], status="canceled", at=now)
            uow.record(sub.apply(Action.UNSCHEDULE_PAUSE, at=now, actor=actor, reason="requested"))
            uow.emit(sub.event("subscription.pause_canceled", at=now, canceled_pause=data))
            await uow.flush()
            return
        if sub.state is not Status.PAUSED:
            raise NotPaused(
                f"{sub.id} is {sub.status} with no pause scheduled; nothing to resume",
                subscription_status=sub.status,
            )
        if sub.cancel_at_period_end:
            raise Conflict(
                f"{sub.id} is set to cancel when its pause ends; reactivate it first",
                code="subscription_canceling",
            )
        if now < sub.current_period_start + MIN_PAUSE:
            # A pause lasts at least a day: billing restarts strictly after the last period
            # that was billed (never the same period twice), and a pause now has already
            # credited the rest of that period.
            earliest = sub.current_period_start + MIN_PAUSE
            raise Conflict(
                f"{sub.id} paused at {rfc3339(sub.current_period_start)}; a pause lasts at "
                f"least a day, so it can resume from {rfc3339(earliest)}",
                code="pause_too_short",
                earliest_resume=rfc3339(earliest),
            )
        # The pause now ends here: the due batch resumes it and bills from this moment, the
        # same path as a pause that runs its course (and the worker's if this request dies).
        sub.current_period_end = now
        sub.pause_notice_at = None
        sub.reschedule(now)
        await uow.flush()
    await run_due(
        runtime, test_clock_id=sub.test_clock_id, now=now, actor=actor, only=subscription_id
    )
