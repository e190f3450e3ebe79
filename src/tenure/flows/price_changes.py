"""Price increases: moving a plan's subscribers in a market to a catalog price version, with
notice and consent (docs/retention.md#price-increases).

Each subscription gets the new price at its first renewal at or after the notice period
(``[retention.price_changes]``, per market) and the version's effective date, visible as
``pending_price``. Under ``opt_in`` consent the customer must accept
(:func:`accept`) before then, otherwise the subscription ends at that period end
(``price_change_declined``, in the due batch). Grandfathered cohorts (started before a date,
or on given price versions) keep their price.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.catalog.pricing import BASE_VERSION, PriceVersion
from tenure.db.base import table_of
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.calendar import boundary, period_index
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.kernel.ids import new_id
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.models import PriceChange, Subscription
from tenure.subscriptions.state import Action, Status

# Subscriptions that will renew again (incomplete ones have not started).
_RENEWING = (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.ON_HOLD, Status.PAUSED)


@dataclass(frozen=True, slots=True)
class Cohorts:
    """Who keeps the old price."""

    started_before: datetime | None = None
    versions: tuple[str, ...] = ()

    def keeps(self, sub: subs.Sub) -> bool:
        if self.started_before is not None and sub.created_at < self.started_before:
            return True
        return (sub.price_version or BASE_VERSION) in self.versions


@dataclass(frozen=True, slots=True)
class Scheduled:
    id: str
    plan: str
    market: str
    version: str
    amount: int
    currency: str
    consent: str
    notice_days: int
    cohorts: Cohorts
    scheduled: int
    grandfathered: int
    created_at: datetime


def _version(runtime: Runtime, plan_id: str, market: str, version: str) -> PriceVersion:
    catalog = runtime.catalog
    catalog.plan(plan_id)
    catalog.market(market)
    found = catalog.pricing.version(plan_id, version)
    if found is None:
        raise InvalidRequest(
            f"{plan_id} has no price version {version!r} in the catalog ([[price_versions]])",
            code="unknown_price_version",
        )
    if market not in found.prices:
        raise InvalidRequest(
            f"price version {version} of {plan_id} has no price in {market}",
            code="plan_unavailable_in_market",
        )
    return found


def first_renewal_from(sub: subs.Sub, at: datetime, runtime: Runtime) -> datetime:
    """The first renewal of ``sub`` starting at or after ``at`` (a paused one renews when it
    resumes, on a new anchor there)."""
    plan = runtime.catalog.plan(sub.plan_id)
    paused = sub.state is Status.PAUSED
    anchor = sub.current_period_end if paused else sub.billing_anchor
    start = max(at, sub.current_period_end)
    index = period_index(anchor, plan.interval, plan.interval_count, start)
    found = boundary(anchor, plan.interval, plan.interval_count, index)
    if found < start:
        found = boundary(anchor, plan.interval, plan.interval_count, index + 1)
    return found


async def schedule(
    runtime: Runtime,
    *,
    plan_id: str,
    market: str,
    version: str,
    cohorts: Cohorts,
    actor: str,
) -> Scheduled:
    """Schedule the move for every renewing web subscription of ``plan_id`` in ``market``.

    Effects: a ``price_changes`` row (once per plan, market and version: 409
    ``price_change_exists``), and per subscription a pending price change, a history row and
    ``subscription.price_change_scheduled``, all in one transaction.
    """
    target = _version(runtime, plan_id, market, version)
    amount = target.prices[market]
    rule = runtime.catalog.pricing.rule_for(market)
    currency = runtime.catalog.market(market).currency
    created = runtime.clock.now()
    change_id = new_id("pchg")
    try:
        async with runtime.db.transaction() as session:
            # First, so a second scheduling of the same version fails before any work.
            await _record(
                session,
                change_id,
                target,
                market,
                amount,
                currency,
                rule.consent,
                rule.notice_days,
                cohorts,
                0,
                0,
                created,
            )
            found = await subs.load(
                session,
                Subscription.plan_id == plan_id,
                Subscription.market == market,
                Subscription.channel == "web",
                Subscription.status.in_([status.value for status in _RENEWING]),
                for_update=True,
                order_by=[Subscription.id],
            )
            uow = UnitOfWork(runtime, session, actor)
            kept = moved = 0
            for sub in found:
                if cohorts.keeps(sub):
                    kept += 1
                    continue
                if sub.price_amount == amount and sub.pending_price is None:
                    continue
                now = await runtime.now_for(session, sub.test_clock_id)
                notice = max(now + timedelta(days=rule.notice_days), target.effective_from)
                effective = first_renewal_from(sub, notice, runtime)
                await _pend(uow, sub, effective, amount, rule.consent, change_id, version, now)
                moved += 1
            await session.execute(
                update(table_of(PriceChange))
                .where(table_of(PriceChange).c.id == change_id)
                .values(scheduled=moved, grandfathered=kept)
            )
            await uow.flush()
    except IntegrityError:
        raise Conflict(
            f"a price change of {plan_id} in {market} to version {version} exists already",
            code="price_change_exists",
        ) from None
    return Scheduled(
        change_id,
        plan_id,
        market,
        version,
        amount,
        currency,
        rule.consent,
        rule.notice_days,
        cohorts,
        moved,
        kept,
        created,
    )


async def _pend(
    uow: UnitOfWork,
    sub: subs.Sub,
    effective: datetime,
    amount: int,
    consent: str,
    change_id: str,
    version: str,
    now: datetime,
) -> None:
    uow.track(sub)
    previous = {"amount": sub.price_amount, "currency": sub.currency}
    await changes.add(
        uow.session,
        sub.pending,
        subscription_id=sub.id,
        kind=ChangeKind.PRICE,
        effective_at=effective,
        at=now,
        plan_id=sub.plan_id,
        price=(amount, consent, change_id, version),
    )
    uow.record(sub.apply(Action.SCHEDULE_PRICE_CHANGE, at=now, actor=uow.actor, reason=version))
    uow.emit(
        sub.event(
            "subscription.price_change_scheduled",
            at=now,
            price_change=change_id,
            previous_price=previous,
        )
    )


async def _record(
    session: AsyncSession,
    change_id: str,
    target: PriceVersion,
    market: str,
    amount: int,
    currency: str,
    consent: str,
    notice_days: int,
    cohorts: Cohorts,
    moved: int,
    kept: int,
    created: datetime,
) -> None:
    await session.execute(
        insert(table_of(PriceChange)).values(
            id=change_id,
            plan_id=target.plan,
            market=market,
            version=target.version,
            amount=amount,
            currency=currency,
            consent=consent,
            notice_days=notice_days,
            grandfather_started_before=cohorts.started_before,
            grandfather_versions=list(cohorts.versions),
            scheduled=moved,
            grandfathered=kept,
            created_at=created,
        )
    )


async def accept(runtime: Runtime, *, subscription_id: str, actor: str) -> None:
    """The customer agrees to the scheduled price: it bills from ``pending_price.effective_at``
    and the subscription goes on. Effects: ``subscription.price_change_accepted``."""
    async with runtime.db.transaction() as session:
        sub = await subs.load_one(session, subscription_id, for_update=True)
        if sub is None:
            raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
        require_web(sub, "accept a price change of")
        change = sub.pending_price
        if change is None:
            raise Conflict(
                f"{sub.id} has no price change scheduled", code="price_change_not_scheduled"
            )
        if change.accepted_at is not None:
            raise Conflict(
                f"{sub.id} accepted this price change already",
                code="price_change_already_accepted",
            )
        now = await runtime.now_for(session, sub.test_clock_id)
        await changes.accept(session, change.id, at=now)
        sub.pending[ChangeKind.PRICE] = replace(change, accepted_at=now)
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        uow.record(sub.apply(Action.ACCEPT_PRICE_CHANGE, at=now, actor=actor, reason="requested"))
        uow.emit(sub.event("subscription.price_change_accepted", at=now))
        await uow.flush()
