"""Plans as sold in a market, with prices, intro offers and a customer's eligibility."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from tenure.api.resources.base import Money, Resource
from tenure.catalog.model import Catalog, FeatureValue, Market
from tenure.catalog.model import Plan as PlanEntry
from tenure.subscriptions.offers import UsedOffers


class IntroOffer(Resource):
    price: Money  # per period, for the first ``periods`` periods
    periods: int


class Eligibility(Resource):
    """Which offers the customer named in the request may still use."""

    trial: bool
    intro_offer: bool


class WinbackPrice(Resource):
    """A win-back offer the customer may take on this plan now (docs/retention.md)."""

    id: str  # send as "offer" when subscribing
    description: str
    price: Money  # per period, for the first ``periods`` invoices
    periods: int


class Plan(Resource):
    id: str
    object: Literal["plan"]
    product: str
    product_name: str
    interval: str  # month | year
    interval_count: int
    price: Money  # gross in tax-inclusive markets, net in tax-exclusive ones
    tax_inclusive: bool
    tax_rate: str  # a percentage as exact decimal text, "25" or "7.25"
    trial_days: int
    accounts: int
    features: list[str]  # the features that are not false, sorted
    feature_values: dict[str, FeatureValue]
    intro_offer: IntroOffer | None
    eligibility: Eligibility | None  # only with ?customer=
    renews: bool  # false: prepaid, paid once for its period (extend to buy more time)
    addon_for: list[str]  # an add-on for these products (attach with …/items), else empty
    trial_requires_payment_method: bool  # false: its trial may start without a card here
    winback_offer: WinbackPrice | None = None  # only with ?customer=, when one applies


class PlanList(Resource):
    object: Literal["list"]
    market: str
    currency: str
    customer: str | None
    data: list[Plan]
    has_more: bool
    next: str | None


def plan_of(
    catalog: Catalog,
    item: PlanEntry,
    market: Market,
    used: UsedOffers | None,
    winback: Mapping[str, tuple[str, str, int, int]] | None = None,
) -> Plan:
    product = catalog.product_of(item)
    intro = item.intro
    quote = (winback or {}).get(item.id)
    return Plan(
        id=item.id,
        object="plan",
        product=item.product,
        product_name=product.name,
        interval=item.interval.value,
        interval_count=item.interval_count,
        price=Money(amount=item.prices[market.code], currency=market.currency),
        tax_inclusive=market.tax_inclusive,
        tax_rate=market.tax_rate_percent,
        trial_days=item.trial_days,
        accounts=product.accounts,
        features=sorted(name for name, value in product.features.items() if value is not False),
        feature_values=dict(product.features),
        intro_offer=None
        if intro is None or market.code not in intro.prices
        else IntroOffer(
            price=Money(amount=intro.prices[market.code], currency=market.currency),
            periods=intro.periods,
        ),
        eligibility=None
        if used is None
        else Eligibility(
            trial=item.trial_days > 0 and product.family not in used.trial_families,
            intro_offer=intro is not None and product.family not in used.intro_families,
        ),
        renews=item.renews,
        addon_for=list(product.addon_for),
        trial_requires_payment_method=catalog.lifecycle_for(
            market.code, product.id
        ).trial_requires_payment_method,
        winback_offer=None
        if quote is None
        else WinbackPrice(
            id=quote[0],
            description=quote[1],
            price=Money(amount=quote[2], currency=market.currency),
            periods=quote[3],
        ),
    )


def plan_list_of(
    catalog: Catalog,
    market: Market,
    customer: str | None,
    used: UsedOffers | None,
    winback: Mapping[str, tuple[str, str, int, int]] | None = None,
) -> PlanList:
    """``winback``: plan id -> (offer id, description, price, periods)."""
    plans = sorted(catalog.plans_in(market), key=lambda entry: entry.id)
    return PlanList(
        object="list",
        market=market.code,
        currency=market.currency,
        customer=customer,
        data=[plan_of(catalog, entry, market, used, winback) for entry in plans],
        has_more=False,
        next=None,
    )
