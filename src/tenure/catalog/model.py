"""Catalog value objects. Immutable; loaded once at start from a catalog file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from tenure.catalog.pricing import Pricing
from tenure.catalog.retention import Retention
from tenure.kernel.calendar import Interval
from tenure.kernel.errors import InvalidRequest, NotFound
from tenure.kernel.money import Money, format_minor, percent_text

FeatureValue = bool | int | str


@dataclass(frozen=True, slots=True)
class Market:
    code: str  # ISO 3166-1 alpha-2, upper case ("SE")
    currency: str  # ISO 4217 ("SEK")
    tax_inclusive: bool  # VAT markets: prices include tax; US: tax is added on top
    tax_rate: Fraction  # 0.25 for 25 %
    tax_name: str = "VAT"
    # Rates by region (US state, ...) that replace tax_rate for customers in that region.
    regions: Mapping[str, Fraction] = field(default_factory=dict)

    def rate_for(self, region: str | None) -> Fraction:
        return self.regions.get(region, self.tax_rate) if region else self.tax_rate

    @property
    def tax_rate_percent(self) -> str:
        return percent_text(self.tax_rate)


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    family: str  # trials are once per family, ever ("premium")
    accounts: int  # seats including the manager: Duo 2, Family 6
    features: Mapping[str, FeatureValue]  # {"ad_free": True, "audiobook_hours": 15}
    free: bool = False
    proration: str = "days"  # "days" (whole UTC days) or "seconds"
    # An add-on: attached to a subscription of one of these products (never subscribed alone),
    # billed on its invoices as its own line, granting its own features on top.
    addon_for: tuple[str, ...] = ()

    @property
    def is_addon(self) -> bool:
        return bool(self.addon_for)


@dataclass(frozen=True, slots=True)
class IntroOffer:
    """The first ``periods`` billing periods at a reduced price, once per customer and family."""

    periods: int
    prices: Mapping[str, int]  # market code -> minor units


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    product: str
    interval: Interval
    interval_count: int
    prices: Mapping[str, int]  # market code -> amount in the market currency's minor units
    trial_days: int = 0
    intro: IntroOffer | None = None
    # False: a prepaid plan, paid once for its period; access ends with it (no renewal, no
    # dunning) unless the customer buys time again (an extension).
    renews: bool = True

    def price_in(self, market: Market) -> Money:
        try:
            return Money(self.prices[market.code], market.currency)
        except KeyError:
            raise InvalidRequest(
                f"plan {self.id!r} is not sold in market {market.code}",
                code="plan_unavailable_in_market",
            ) from None


@dataclass(frozen=True, slots=True)
class DunningRule:
    """Dunning settings from the catalog's ``[dunning]`` table: the default (``name`` "default",
    no market or product) or one override. ``None`` fields are inherited from the default, then
    from the built-in policy (``tenure.dunning.policy``)."""

    name: str = "default"
    market: str | None = None
    product: str | None = None
    retry_days: tuple[int, ...] | None = None
    grace_days: int | None = None
    hold_days: int | None = None
    recovery: str | None = None
    recovery_during_hold: str | None = None


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """Lifecycle settings from the catalog's ``[lifecycle]`` table: the default (``name``
    "default") or one override per market, product, or both. ``None`` is inherited from the
    default, then from :data:`LIFECYCLE_DEFAULTS`."""

    name: str = "default"
    market: str | None = None
    product: str | None = None
    trial_requires_payment_method: bool | None = None
    first_period: str | None = None
    cancel_now_credit: str | None = None


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The lifecycle policy that applies to one product in one market (all fields resolved)."""

    trial_requires_payment_method: bool = True
    # A subscription anchored on a billing day: "prorate" its first (short) period by whole
    # days, or leave it "free" until the billing day.
    first_period: str = "prorate"
    # What an immediate cancel gives back for the unused part of a paid period: "none",
    # "credit" (to the balance) or "refund" (to the payment method).
    cancel_now_credit: str = "none"


LIFECYCLE_DEFAULTS: Final = Lifecycle()


# What a lost dispute does to the subscription the disputed payment paid for.
DISPUTE_POLICIES = ("cancel_now", "cancel_at_period_end", "none")


@dataclass(frozen=True, slots=True)
class DisputePolicy:
    """The catalog's ``[disputes]`` table. ``on_lost``: ``cancel_now`` (access ends at once and
    the customer is on the free tier), ``cancel_at_period_end``, or ``none``."""

    on_lost: str = "cancel_now"


@dataclass(frozen=True, slots=True)
class Catalog:
    markets: Mapping[str, Market]
    products: Mapping[str, Product]
    plans: Mapping[str, Plan]
    free_product: str
    source: str = field(default="<memory>")
    # (from plan, to plan) -> "now" | "period_end", overriding the default change policy.
    change_policies: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # (from plan, to plan) -> "reset" | "keep": where an interval change anchors billing.
    change_anchors: Mapping[tuple[str, str], str] = field(default_factory=dict)
    dunning: DunningRule = field(default_factory=DunningRule)
    dunning_overrides: tuple[DunningRule, ...] = ()
    disputes: DisputePolicy = field(default_factory=DisputePolicy)
    lifecycle: LifecycleRule = field(default_factory=LifecycleRule)
    lifecycle_overrides: tuple[LifecycleRule, ...] = ()

    def lifecycle_for(self, market: str, product: str) -> Lifecycle:
        """The most specific rule wins (market and product, then product, then market), each
        field falling back to the ``[lifecycle]`` default and then the built-in one."""

        def rank(rule: LifecycleRule) -> int:
            return (2 if rule.product else 0) + (1 if rule.market else 0)

        matching = [
            rule
            for rule in self.lifecycle_overrides
            if rule.market in (None, market) and rule.product in (None, product)
        ]
        chain = [*sorted(matching, key=rank, reverse=True), self.lifecycle]
        values: dict[str, object] = {}
        for name in Lifecycle.__dataclass_fields__:
            found = next(
                (getattr(rule, name) for rule in chain if getattr(rule, name) is not None),
                getattr(LIFECYCLE_DEFAULTS, name),
            )
            values[name] = found
        return Lifecycle(**values)  # type: ignore[arg-type]

    retention: Retention = field(default_factory=Retention)  # docs/retention.md
    pricing: Pricing = field(default_factory=Pricing)  # price versions and consent rules

    def market(self, code: str) -> Market:
        try:
            return self.markets[code]
        except KeyError:
            known = ", ".join(sorted(self.markets))
            raise InvalidRequest(
                f"unknown market {code!r}; known markets: {known}", code="unknown_market"
            ) from None

    def plan(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise InvalidRequest(
                f"unknown plan {plan_id!r}; list plans with GET /v1/plans?market=…",
                code="unknown_plan",
            ) from None

    def product(self, product_id: str) -> Product:
        try:
            return self.products[product_id]
        except KeyError:
            raise NotFound(f"unknown product {product_id!r}", code="unknown_product") from None

    def product_of(self, plan: Plan) -> Product:
        return self.products[plan.product]

    @property
    def free(self) -> Product:
        return self.products[self.free_product]

    def plans_in(self, market: Market) -> list[Plan]:
        return [plan for plan in self.plans.values() if market.code in plan.prices]

    def describe_price(self, plan: Plan, market: Market) -> str:
        return f"{format_minor(plan.prices[market.code], market.currency)} {market.currency}"
