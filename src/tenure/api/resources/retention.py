"""Retention offers as the API shows them (docs/retention.md)."""

from __future__ import annotations

from typing import Literal

from tenure.api.resources.base import Money, Resource
from tenure.api.resources.base import at as ts_of
from tenure.catalog.model import Catalog
from tenure.catalog.retention import SaveOffer
from tenure.flows.price_changes import Scheduled
from tenure.kernel.money import round_half_up
from tenure.subscriptions.record import Sub


class RetentionOffer(Resource):
    id: str
    object: Literal["retention_offer"]
    kind: str  # discount | pause | downgrade | extension
    description: str
    percent_off: str | None  # discount: exact decimal text, "50"
    periods: int | None  # discount: invoices discounted; pause: periods paused
    days: int | None  # extension: free days added to the current period
    to_plan: str | None  # downgrade: the plan from the period end
    # What a period costs with the offer (discount: the discounted price; downgrade: the new
    # plan's price); null when the price does not change.
    price: Money | None


class RetentionOfferList(Resource):
    object: Literal["list"]
    subscription: str
    data: list[RetentionOffer]
    has_more: bool
    next: str | None


def _price(catalog: Catalog, sub: Sub, offer: SaveOffer) -> Money | None:
    if offer.kind == "discount" and offer.percent_off is not None:
        off = min(round_half_up(sub.price_amount * offer.percent_off), sub.price_amount)
        return Money(amount=sub.price_amount - off, currency=sub.currency)
    plan = catalog.plans.get(offer.to_plan or "")
    if offer.kind == "downgrade" and plan is not None and sub.market in plan.prices:
        return Money(amount=plan.prices[sub.market], currency=sub.currency)
    return None


def retention_offer_of(catalog: Catalog, sub: Sub, offer: SaveOffer) -> RetentionOffer:
    percent = None
    if offer.percent_off is not None:
        shown = offer.percent_off * 100
        percent = str(shown.numerator) if shown.denominator == 1 else str(float(shown))
    return RetentionOffer(
        id=offer.id,
        object="retention_offer",
        kind=offer.kind,
        description=offer.description,
        percent_off=percent,
        periods=offer.periods,
        days=offer.days,
        to_plan=offer.to_plan,
        price=_price(catalog, sub, offer),
    )


def retention_offer_list_of(
    catalog: Catalog, sub: Sub, offers: list[SaveOffer]
) -> RetentionOfferList:
    return RetentionOfferList(
        object="list",
        subscription=sub.id,
        data=[retention_offer_of(catalog, sub, offer) for offer in offers],
        has_more=False,
        next=None,
    )


class GrandfatherCohorts(Resource):
    started_before: str | None
    versions: list[str]


class PriceChange(Resource):
    id: str
    object: Literal["price_change"]
    plan: str
    market: str
    version: str
    price: Money  # the new price per period
    consent: str  # notice | opt_in, the market's rule
    notice_days: int
    grandfather: GrandfatherCohorts
    scheduled: int  # subscriptions that got a pending_price
    grandfathered: int  # subscriptions left at their price
    created: str


def price_change_of(change: Scheduled) -> PriceChange:
    return PriceChange(
        id=change.id,
        object="price_change",
        plan=change.plan,
        market=change.market,
        version=change.version,
        price=Money(amount=change.amount, currency=change.currency),
        consent=change.consent,
        notice_days=change.notice_days,
        grandfather=GrandfatherCohorts(
            started_before=None
            if change.cohorts.started_before is None
            else ts_of(change.cohorts.started_before),
            versions=list(change.cohorts.versions),
        ),
        scheduled=change.scheduled,
        grandfathered=change.grandfathered,
        created=ts_of(change.created_at),
    )
