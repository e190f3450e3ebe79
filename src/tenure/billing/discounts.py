"""Promo-code discounts: what a code takes off a line, and whether it may be used. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.kernel.money import round_half_up


@dataclass(frozen=True, slots=True)
class PromoTerms:
    code: str
    kind: str  # "percent" | "amount"
    percent_off: Fraction | None
    amount_off: int | None
    currency: str | None
    duration: str  # "once" | "repeating" | "forever"
    duration_periods: int | None
    products: Sequence[str]  # empty: every product
    markets: Sequence[str]  # empty: every market
    valid_from: datetime | None
    valid_until: datetime | None
    max_redemptions: int | None
    times_redeemed: int
    active: bool


def periods_granted(terms: PromoTerms) -> int | None:
    """How many invoices the discount covers; ``None`` means forever."""
    if terms.duration == "once":
        return 1
    if terms.duration == "repeating":
        return terms.duration_periods
    return None


def discount_for(terms: PromoTerms, amount: int) -> int:
    """The (positive) amount taken off ``amount``; never more than the amount itself."""
    if amount <= 0:
        return 0
    if terms.kind == "percent" and terms.percent_off is not None:
        return min(round_half_up(Fraction(amount) * terms.percent_off), amount)
    return min(terms.amount_off or 0, amount)


def describe(terms: PromoTerms) -> str:
    if terms.kind == "percent" and terms.percent_off is not None:
        percent = terms.percent_off * 100
        shown = str(percent.numerator) if percent.denominator == 1 else str(float(percent))
        return f"Discount {terms.code} ({shown}% off)"
    return f"Discount {terms.code}"


def check_redeemable(
    terms: PromoTerms, *, product: str, market: str, currency: str, now: datetime
) -> None:
    """Raise a 4xx with a precise code when the promo code cannot be used here and now."""
    if not terms.active or (terms.valid_until is not None and now >= terms.valid_until):
        raise Conflict(f"promo code {terms.code} has expired", code="promo_code_expired")
    if terms.valid_from is not None and now < terms.valid_from:
        raise Conflict(f"promo code {terms.code} is not valid yet", code="promo_code_not_yet_valid")
    if terms.max_redemptions is not None and terms.times_redeemed >= terms.max_redemptions:
        raise Conflict(f"promo code {terms.code} has been used up", code="promo_code_exhausted")
    if terms.markets and market not in terms.markets:
        raise InvalidRequest(
            f"promo code {terms.code} is not valid in market {market}",
            code="promo_code_not_applicable",
        )
    if terms.products and product not in terms.products:
        raise InvalidRequest(
            f"promo code {terms.code} does not apply to {product}", code="promo_code_not_applicable"
        )
    if terms.kind == "amount" and terms.currency != currency:
        raise InvalidRequest(
            f"promo code {terms.code} is in {terms.currency}, the subscription in {currency}",
            code="promo_code_not_applicable",
        )
