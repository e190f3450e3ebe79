"""Creating promo codes (admin) and applying one to a running subscription."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from tenure.billing import promotions
from tenure.billing.models import PromoCode
from tenure.events.record import record as record_events
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import InvalidRequest
from tenure.kernel.money import UnknownCurrency, minor_units
from tenure.subscriptions import record as subs
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.state import ENTITLED_STATUSES


def validate_terms(values: dict[str, Any], catalog_products: set[str], markets: set[str]) -> None:
    percent, amount = values.get("percent_off"), values.get("amount_off")
    if (percent is None) == (amount is None):
        raise InvalidRequest(
            "give exactly one of percent_off or amount_off", code="invalid_promo_terms"
        )
    if percent is not None:
        try:
            rate = Fraction(percent)
        except (ValueError, ZeroDivisionError):
            raise InvalidRequest(
                f"percent_off {percent!r} is not a decimal number", code="invalid_promo_terms"
            ) from None
        if not 0 < rate <= 100:
            raise InvalidRequest(
                "percent_off must be above 0 and at most 100", code="invalid_promo_terms"
            )
    else:
        _check_amount(amount, values.get("currency"))
    _check_duration(values["duration"], values.get("duration_periods"))
    unknown = [p for p in values["products"] if p not in catalog_products]
    unknown += [m for m in values["markets"] if m not in markets]
    if unknown:
        raise InvalidRequest(
            f"unknown products or markets: {', '.join(unknown)}", code="invalid_promo_terms"
        )


def _check_amount(amount: int | None, currency: str | None) -> None:
    if amount is None or amount <= 0:
        raise InvalidRequest(
            "amount_off must be a positive amount in minor units", code="invalid_promo_terms"
        )
    try:
        minor_units(currency or "")
    except UnknownCurrency:
        raise InvalidRequest(
            "amount_off needs an ISO 4217 currency", code="invalid_promo_terms"
        ) from None


def _check_duration(duration: str, periods: int | None) -> None:
    if duration not in ("once", "repeating", "forever"):
        raise InvalidRequest(
            "duration must be once, repeating or forever", code="invalid_promo_terms"
        )
    if (duration == "repeating") != (periods is not None) or (periods is not None and periods < 1):
        raise InvalidRequest(
            "duration_periods (at least 1) goes with duration repeating, only",
            code="invalid_promo_terms",
        )


async def create_code(runtime: Runtime, values: dict[str, Any]) -> PromoCode:
    catalog = runtime.catalog
    validate_terms(values, set(catalog.products), set(catalog.markets))
    if values.get("currency"):
        values["currency"] = values["currency"].upper()
    async with runtime.db.transaction() as session:
        return await promotions.create(session, values, now=runtime.clock.now())


async def apply_to_subscription(
    runtime: Runtime, *, subscription_id: str, code: str, now_override: datetime | None = None
) -> None:
    """Redeem ``code`` for a running subscription: its next invoices carry the discount."""
    async with runtime.db.transaction() as session:
        sub = await subs.load_one(session, subscription_id, for_update=True)
        if sub is None:
            raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
        require_web(sub, "apply a promo code to")
        if sub.state not in ENTITLED_STATUSES:
            raise InvalidRequest(
                f"{sub.id} is {sub.status}; promo codes apply to running subscriptions",
                code="subscription_not_active",
            )
        now = now_override or await runtime.now_for(session, sub.test_clock_id)
        discount = await promotions.redeem(
            session,
            code,
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            product=sub.product_id,
            market=sub.market,
            currency=sub.currency,
            now=now,
        )
        events = [
            sub.event(
                "subscription.promo_code_applied",
                at=now,
                code=discount.terms.code,
                periods=discount.periods_remaining,
            )
        ]
        await subs.save(session, [sub])
        await record_events(session, events)
