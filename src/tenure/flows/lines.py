"""The invoice lines of one subscription period: the plan (at its intro price while that lasts)
and the promo-code discount as its own line."""

from __future__ import annotations

from datetime import datetime

from tenure.billing.discounts import describe, discount_for
from tenure.billing.invoicing import LineDraft
from tenure.billing.promotions import ActiveDiscount
from tenure.catalog.model import Catalog
from tenure.subscriptions import record as subs


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
