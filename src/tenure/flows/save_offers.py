"""Save offers: what a customer about to cancel may take instead, and taking it atomically.

The offers are catalog data (``[retention.offers.<id>]``); who may take one is the pure rule
:func:`tenure.subscriptions.save_offers.refusal` plus what each kind needs (a pause must be
allowed, a downgrade must fit the household). Taking one claims its once-per-window row
(:mod:`tenure.billing.offers`) and applies it in one transaction, or answers 409
``offer_not_eligible`` with the ``reason`` and changes nothing. A subscription set to cancel
that takes an offer is reactivated explicitly (``subscription.reactivated``), never silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import offers as taken_offers
from tenure.billing import service as invoices
from tenure.catalog.retention import SaveOffer
from tenure.flows.households import guard_plan_change
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.pause import PauseRequest, apply_pause, refuse_pause
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.errors import Conflict, NotFound
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.save_offers import OfferFacts, refusal
from tenure.subscriptions.state import Action

KIND = "save"


class OfferNotFound(NotFound):
    code = "offer_not_found"


class OfferNotEligible(Conflict):
    code = "offer_not_eligible"


def offer_data(offer: SaveOffer) -> dict[str, Any]:
    percent = None
    if offer.percent_off is not None:
        shown = offer.percent_off * 100
        percent = str(shown.numerator) if shown.denominator == 1 else str(float(shown))
    return {
        "id": offer.id,
        "kind": offer.kind,
        "description": offer.description,
        "percent_off": percent,
        "periods": offer.periods,
        "days": offer.days,
        "to_plan": offer.to_plan,
    }


@dataclass(frozen=True, slots=True)
class Eligible:
    sub: subs.Sub
    offers: list[SaveOffer]


async def _locked(session: AsyncSession, subscription_id: str) -> subs.Sub:
    sub = await subs.load_one(session, subscription_id, for_update=True)
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
    return sub


async def _facts(session: AsyncSession, sub: subs.Sub, now: datetime) -> tuple[OfferFacts, Any]:
    history = await taken_offers.taken(session, sub.customer_id, KIND)
    paid = await invoices.paid_periods(session, sub.id)
    base = OfferFacts(sub.state, sub.channel, sub.plan_id, sub.market, paid, None, None, now)
    return dataclasses.replace(base, last_any=history.last_of_kind), history


async def _why_not(
    uow: UnitOfWork, sub: subs.Sub, offer: SaveOffer, facts: OfferFacts, history: Any
) -> str | None:
    reason = refusal(offer, dataclasses.replace(facts, last_taken=history.by_offer.get(offer.id)))
    if reason is not None:
        return reason
    # As if not canceling: taking the offer reactivates the subscription first.
    live = dataclasses.replace(
        sub, pending={k: v for k, v in sub.pending.items() if k is not ChangeKind.CANCEL}
    )
    catalog = uow.runtime.catalog
    try:
        if offer.kind == "pause":
            refuse_pause(uow.runtime, live, PauseRequest(periods=offer.periods))
        elif offer.kind == "downgrade":
            plan = catalog.plans.get(offer.to_plan or "")
            if plan is None or sub.market not in plan.prices:
                return "not_offered_in_market"
            await guard_plan_change(uow.session, catalog, sub.id, plan, remove_members=False)
        elif offer.kind == "discount":
            if (await taken_offers.active_for(uow.session, [sub.id])).get(sub.id):
                return "offer_active"
        elif live.pending_pause is not None:
            return "pause_already_scheduled"
    except Conflict as refused:
        return refused.code
    return None


async def show(runtime: Runtime, *, subscription_id: str, actor: str) -> Eligible:
    """The offers this subscription's customer may take now; records
    ``subscription.retention_offers_shown`` when there are any (the save rate's denominator)."""
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "offer retention offers for")
        now = await runtime.now_for(session, sub.test_clock_id)
        uow = UnitOfWork(runtime, session, actor)
        facts, history = await _facts(session, sub, now)
        found = [
            offer
            for offer in runtime.catalog.retention.offers.values()
            if await _why_not(uow, sub, offer, facts, history) is None
        ]
        if found:
            uow.track(sub)
            uow.emit(
                sub.event(
                    "subscription.retention_offers_shown",
                    at=now,
                    offers=[offer_data(offer) for offer in found],
                )
            )
            await uow.flush()
    return Eligible(sub, found)


def _offer(runtime: Runtime, offer_id: str) -> SaveOffer:
    offer = runtime.catalog.retention.offers.get(offer_id)
    if offer is None:
        raise OfferNotFound(f"no retention offer {offer_id!r} in the catalog")
    return offer


async def accept(runtime: Runtime, *, subscription_id: str, offer_id: str, actor: str) -> None:
    """Take ``offer_id`` now, all or nothing.

    Effects: ``subscription.retention_offer_accepted``, with what the offer does: a discount
    on the next ``periods`` invoices, ``subscription.pause_scheduled``,
    ``subscription.plan_change_scheduled``, or a longer current period; a subscription set
    to cancel is reactivated first (``subscription.reactivated``).
    """
    offer = _offer(runtime, offer_id)
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "apply a retention offer to")
        now = await runtime.now_for(session, sub.test_clock_id)
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        facts, history = await _facts(session, sub, now)
        reason = await _why_not(uow, sub, offer, facts, history)
        if reason is not None:
            raise OfferNotEligible(
                f"{offer.id} cannot be taken by {sub.id} now ({reason.replace('_', ' ')})",
                offer=offer.id,
                reason=reason,
            )
        reactivated = await _reactivate(uow, sub, now)
        await taken_offers.redeem(
            session,
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            offer_id=offer.id,
            kind=KIND,
            window_days=offer.window_days,
            now=now,
            percent_off=offer.percent_off if offer.kind == "discount" else None,
            periods=offer.periods if offer.kind == "discount" else None,
        )
        await _apply(uow, sub, offer, now)
        uow.record(sub.apply(Action.ACCEPT_OFFER, at=now, actor=actor, reason=offer.id))
        uow.emit(
            sub.event(
                "subscription.retention_offer_accepted",
                at=now,
                offer=offer_data(offer),
                reactivated=reactivated,
            )
        )
        await uow.flush()


async def _reactivate(uow: UnitOfWork, sub: subs.Sub, now: datetime) -> bool:
    if not sub.cancel_at_period_end:
        return False
    await changes.close(uow.session, sub.pending, [ChangeKind.CANCEL], status="canceled", at=now)
    sub.canceled_at = None
    sub.cancel_reason = sub.cancel_comment = None
    uow.record(sub.apply(Action.REACTIVATE, at=now, actor=uow.actor, reason="retention_offer"))
    uow.emit(sub.event("subscription.reactivated", at=now))
    return True


async def _apply(uow: UnitOfWork, sub: subs.Sub, offer: SaveOffer, now: datetime) -> None:
    if offer.kind == "pause":
        await apply_pause(uow, sub, PauseRequest(periods=offer.periods), now)
    elif offer.kind == "downgrade":
        assert offer.to_plan is not None
        await changes.add(
            uow.session,
            sub.pending,
            subscription_id=sub.id,
            kind=ChangeKind.PLAN,
            effective_at=sub.current_period_end,
            at=now,
            plan_id=offer.to_plan,
        )
        uow.emit(sub.event("subscription.plan_change_scheduled", at=now, change_type="downgrade"))
    elif offer.kind == "extension":
        # Free days: the current (paid) period runs longer and the anchor moves with its end,
        # so the next period is a whole one from there.
        assert offer.days is not None
        sub.current_period_end += timedelta(days=offer.days)
        sub.billing_anchor = sub.current_period_end
        sub.reschedule(now)
    # A discount needs nothing more: the renewals find it (billing.offers.active_for).


async def decline(runtime: Runtime, *, subscription_id: str, offer_id: str, actor: str) -> None:
    """The customer said no: ``subscription.retention_offer_declined`` (nothing else changes)."""
    offer = _offer(runtime, offer_id)
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "decline a retention offer for")
        now = await runtime.now_for(session, sub.test_clock_id)
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        uow.emit(
            sub.event("subscription.retention_offer_declined", at=now, offer=offer_data(offer))
        )
        await uow.flush()
