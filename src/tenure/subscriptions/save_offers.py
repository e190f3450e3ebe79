"""Who may take a save offer now: the catalog's eligibility rules, pure (docs/retention.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tenure.catalog.retention import SaveOffer, WinbackOffer
from tenure.subscriptions.state import Status


@dataclass(frozen=True, slots=True)
class OfferFacts:
    status: Status
    channel: str
    plan_id: str
    market: str
    paid_periods: int  # paid period invoices of this subscription
    last_taken: datetime | None  # this offer, by this customer
    last_any: datetime | None  # any save offer, by this customer
    now: datetime


def refusal(offer: SaveOffer, facts: OfferFacts) -> str | None:
    """Why ``offer`` cannot be taken now (a stable reason code), or ``None`` when it can."""
    if facts.channel != "web":
        return "managed_by_store"
    if facts.status is not Status.ACTIVE:
        return "subscription_not_active"
    if offer.plans and facts.plan_id not in offer.plans:
        return "not_offered_for_plan"
    if offer.markets and facts.market not in offer.markets:
        return "not_offered_in_market"
    if facts.paid_periods < offer.min_paid_periods:
        return "tenure_too_short"
    if facts.last_taken is not None and facts.now - facts.last_taken < timedelta(
        days=offer.window_days
    ):
        return "offer_already_used"
    recent = facts.last_any is not None and facts.now - facts.last_any < timedelta(
        days=offer.cooldown_days
    )
    return "recent_offer" if offer.cooldown_days and recent else None


@dataclass(frozen=True, slots=True)
class WinbackFacts:
    plan_id: str
    market: str
    previous_product: str | None  # the customer's last ended web subscription, if any
    ended_at: datetime | None
    last_taken: datetime | None  # this offer, by this customer
    now: datetime


def winback_refusal(offer: WinbackOffer, facts: WinbackFacts) -> str | None:
    """Why a returning customer cannot have ``offer`` on ``facts.plan_id`` now, or ``None``."""
    if offer.plans and facts.plan_id not in offer.plans:
        return "not_offered_for_plan"
    if offer.markets and facts.market not in offer.markets:
        return "not_offered_in_market"
    if facts.previous_product is None or facts.ended_at is None:
        return "no_previous_subscription"
    if offer.previous_products and facts.previous_product not in offer.previous_products:
        return "not_offered_for_previous_product"
    if facts.now - facts.ended_at < timedelta(days=offer.min_days_gone):
        return "not_gone_long_enough"
    if facts.last_taken is not None and facts.now - facts.last_taken < timedelta(
        days=offer.window_days
    ):
        return "offer_already_used"
    return None
