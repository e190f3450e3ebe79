"""The invoice lines of one subscription period: the plan (at its intro price while that lasts)
and the promo-code discount as its own line."""

from __future__ import annotations

from datetime import datetime

from tenure.billing.discounts import describe, discount_for
from tenure.billing.invoicing import LineDraft
from tenure.billing.promotions import ActiveDiscount
from tenure.billing.proration import ProrationMode, prorate, unused_fraction
from tenure.catalog.model import Catalog
from tenure.subscriptions import record as subs
from tenure.subscriptions.anchors import FirstPeriod


def period_lines(
    catalog: Catalog,
    sub: subs.Sub,
    start: datetime,
    end: datetime,
    discount: ActiveDiscount | None,
) -> tuple[list[LineDraft], bool]:
    """Lines for ``[start, end)``; the flag says whether the discount was used."""
    intro = sub.intro_price is not None and sub.intro_periods_remaining > 0
    price = sub.take_period_price()
    product = catalog.products.get(sub.product_id)
    name = f"{product.name if product else sub.product_id} ({sub.plan_id})"
    lines = [LineDraft(f"{name}, intro price" if intro else name, sub.plan_id, start, end, price)]
    off = discount_for(discount.terms, price) if discount is not None else 0
    if discount is None or off == 0:
        return lines, False
    lines.append(LineDraft(describe(discount.terms), None, start, end, -off))
    return lines, True


def first_period_lines(
    catalog: Catalog,
    sub: subs.Sub,
    full_start: datetime,
    end: datetime,
    now: datetime,
    rule: FirstPeriod,
) -> list[LineDraft]:
    """The one line of a first period that ends early on the billing day: its share of the
    price by the product's proration rule (whole days by default), or nothing (``free``).
    Intro prices and promo codes start with the first full period."""
    product = catalog.products.get(sub.product_id)
    name = f"{product.name if product else sub.product_id} ({sub.plan_id})"
    until = end.date().isoformat()
    if rule is FirstPeriod.FREE:
        return [LineDraft(f"{name}, free until {until}", sub.plan_id, now, end, 0)]
    mode = ProrationMode(product.proration if product else "days")
    amount = prorate(sub.price_amount, unused_fraction(full_start, end, now, mode))
    description = f"{name}, {now.date().isoformat()} to {until} (to the billing day)"
    return [LineDraft(description, sub.plan_id, now, end, amount)]
