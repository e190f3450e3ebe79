"""Promo codes."""

from __future__ import annotations

from typing import Literal

from tenure.api.resources.base import Resource, at, ts
from tenure.billing.models import PromoCode as PromoCodeRow


class PromoCode(Resource):
    id: str
    object: Literal["promo_code"]
    code: str
    kind: str  # percent | amount
    percent_off: str | None  # exact decimal text, "20" or "12.5"
    amount_off: int | None  # minor units of ``currency``
    currency: str | None
    duration: str  # once | repeating | forever
    duration_periods: int | None
    products: list[str]
    markets: list[str]
    valid_from: str | None
    valid_until: str | None
    max_redemptions: int | None
    times_redeemed: int
    active: bool
    created: str


def promo_code_of(row: PromoCodeRow) -> PromoCode:
    return PromoCode(
        id=row.id,
        object="promo_code",
        code=row.code,
        kind=row.kind,
        percent_off=row.percent_off,
        amount_off=row.amount_off,
        currency=row.currency,
        duration=row.duration,
        duration_periods=row.duration_periods,
        products=list(row.products or []),
        markets=list(row.markets or []),
        valid_from=ts(row.valid_from),
        valid_until=ts(row.valid_until),
        max_redemptions=row.max_redemptions,
        times_redeemed=row.times_redeemed,
        active=row.active,
        created=at(row.created_at),
    )
