"""The invoice lines of one subscription period: the plan (at its intro price while that lasts)
and the promo-code discount as its own line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tenure.billing.discounts import describe, discount_for
from tenure.billing.invoicing import LineDraft
from tenure.billing.promotions import ActiveDiscount
from tenure.billing.proration import ProrationMode, prorate, unused_fraction
from tenure.catalog.model import Catalog
from tenure.subscriptions import record as subs
from tenure.subscriptions.anchors import FirstPeriod
from tenure.subscriptions.items import Item


def period_lines(
    catalog: Catalog,
    sub: subs.Sub,
    start: datetime,
    end: datetime,
    discount: ActiveDiscount | None,
    addons: Sequence[Item] = (),
) -> tuple[list[LineDraft], bool]:
    """Lines for ``[start, end)``, then one per active add-on at its locked price; the flag
    says whether the discount (of the plan's line) was used."""
    intro = sub.intro_price is not None and sub.intro_periods_remaining > 0
    price = sub.take_period_price()
    product = catalog.products.get(sub.product_id)
    name = f"{product.name if product else sub.product_id} ({sub.plan_id})"
    lines = [LineDraft(f"{name}, intro price" if intro else name, sub.plan_id, start, end, price)]
    off = discount_for(discount.terms, price) if discount is not None else 0
    used = discount is not None and off != 0
    if discount is not None and used:
        lines.append(LineDraft(describe(discount.terms), None, start, end, -off))
    for item in addons:
        addon = catalog.products.get(item.product_id)
        label = f"{addon.name if addon else item.product_id} ({item.plan_id})"
        lines.append(LineDraft(label, item.plan_id, start, end, item.price_amount))
    return lines, used


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


def offer_line(
    lines: list[LineDraft], offer: ActiveDiscount | None, start: datetime, end: datetime
) -> bool:
    """Add a retention offer's discount (docs/retention.md) to a period's lines, taken off the
    plan line and never below zero in total; ``True`` when it was used."""
    if offer is None or not lines:
        return False
    left = sum(line.amount for line in lines)
    off = min(discount_for(offer.terms, lines[0].amount), max(left, 0))
    if off == 0:
        return False
    lines.append(LineDraft(describe(offer.terms), None, start, end, -off))
    return True
