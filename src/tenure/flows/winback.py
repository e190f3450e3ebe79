"""Win-back: a price for customers whose subscription ended, shown with the plans and taken
on resubscribe (docs/retention.md#win-back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import offers as taken_offers
from tenure.billing.promotions import ActiveDiscount
from tenure.catalog.retention import WinbackOffer
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import Conflict, NotFound
from tenure.kernel.money import round_half_up
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.save_offers import WinbackFacts, winback_refusal
from tenure.subscriptions.state import Status

KIND = "winback"


class WinbackNotFound(NotFound):
    code = "offer_not_found"


class WinbackNotEligible(Conflict):
    code = "offer_not_eligible"


@dataclass(frozen=True, slots=True)
class Previous:
    product: str | None
    ended_at: datetime | None
    taken: dict[str, datetime]


@dataclass(frozen=True, slots=True)
class WinbackQuote:
    offer: WinbackOffer
    price: int  # per period while it lasts, in the market's minor units


async def previous(session: AsyncSession, customer_id: str) -> Previous:
    """The customer's last ended web subscription and the win-back offers they took."""
    ended = await subs.load(
        session,
        Subscription.customer_id == customer_id,
        Subscription.channel == "web",
        Subscription.status.in_([Status.CANCELED.value, Status.EXPIRED.value]),
        Subscription.ended_at.is_not(None),
        order_by=[Subscription.ended_at.desc()],
        limit=1,
    )
    taken = await taken_offers.taken(session, customer_id, KIND)
    last = ended[0] if ended else None
    return Previous(
        last.product_id if last else None, last.ended_at if last else None, taken.by_offer
    )


def _facts(plan_id: str, market: str, seen: Previous, offer_id: str, now: datetime) -> WinbackFacts:
    return WinbackFacts(plan_id, market, seen.product, seen.ended_at, seen.taken.get(offer_id), now)


def discounted(price: int, offer: WinbackOffer) -> int:
    return price - min(round_half_up(price * offer.percent_off), price)


async def quotes(
    runtime: Runtime, session: AsyncSession, customer_id: str, market: str, now: datetime
) -> dict[str, WinbackQuote]:
    """For each plan sold in ``market``, the best win-back price the customer may take now."""
    seen = await previous(session, customer_id)
    found: dict[str, WinbackQuote] = {}
    for plan in runtime.catalog.plans.values():
        if market not in plan.prices:
            continue
        for offer in runtime.catalog.retention.winback.values():
            if winback_refusal(offer, _facts(plan.id, market, seen, offer.id, now)) is not None:
                continue
            price = discounted(plan.prices[market], offer)
            if plan.id not in found or price < found[plan.id].price:
                found[plan.id] = WinbackQuote(offer, price)
    return found


async def redeem(
    runtime: Runtime,
    session: AsyncSession,
    *,
    customer_id: str,
    market: str,
    subscription_id: str,
    plan_id: str,
    offer_id: str,
    now: datetime,
) -> ActiveDiscount:
    """Take a win-back offer for a new subscription (in the subscribe transaction); 409
    ``offer_not_eligible`` with the reason, or 404 ``offer_not_found``."""
    offer = runtime.catalog.retention.winback.get(offer_id)
    if offer is None:
        raise WinbackNotFound(f"no win-back offer {offer_id!r} in the catalog")
    seen = await previous(session, customer_id)
    reason = winback_refusal(offer, _facts(plan_id, market, seen, offer.id, now))
    if reason is not None:
        raise WinbackNotEligible(
            f"{offer.id} cannot be taken by {customer_id} on {plan_id} now "
            f"({reason.replace('_', ' ')})",
            offer=offer.id,
            reason=reason,
        )
    discount = await taken_offers.redeem(
        session,
        customer_id=customer_id,
        subscription_id=subscription_id,
        offer_id=offer.id,
        kind=KIND,
        window_days=offer.window_days,
        now=now,
        percent_off=offer.percent_off,
        periods=offer.periods,
    )
    assert discount is not None  # a win-back offer is a discount
    return discount
