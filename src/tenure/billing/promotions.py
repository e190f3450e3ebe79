"""Promo codes: creation, redemption (once per customer, within the total limit), and the
discount each subscription invoice carries while the redemption lasts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Final

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing.discounts import PromoTerms, check_redeemable, periods_granted
from tenure.billing.models import PromoCode, PromoRedemption
from tenure.db.base import table_of
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound
from tenure.kernel.ids import new_id

_codes = table_of(PromoCode)
_redemptions = table_of(PromoRedemption)
_CODE: Final = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")


class PromoCodeNotFound(NotFound):
    code = "promo_code_not_found"


@dataclass(frozen=True, slots=True)
class ActiveDiscount:
    redemption_id: str
    terms: PromoTerms
    periods_remaining: int | None
    # promo (a promo_redemptions row) or offer (an offer_redemptions row: billing.offers)
    source: str = "promo"


def terms_of(row: Any) -> PromoTerms:
    return PromoTerms(
        code=row.code,
        kind=row.kind,
        percent_off=Fraction(row.percent_off) / 100 if row.percent_off else None,
        amount_off=row.amount_off,
        currency=row.currency,
        duration=row.duration,
        duration_periods=row.duration_periods,
        products=list(row.products or []),
        markets=list(row.markets or []),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        max_redemptions=row.max_redemptions,
        times_redeemed=row.times_redeemed,
        active=row.active,
    )


def normalize_code(code: str) -> str:
    normalized = code.strip().upper()
    if not _CODE.match(normalized):
        raise InvalidRequest(
            "a promo code is 3-64 letters, digits, '-' or '_'", code="invalid_promo_code"
        )
    return normalized


async def create(session: AsyncSession, values: dict[str, Any], *, now: datetime) -> PromoCode:
    values["code"] = normalize_code(values["code"])
    promo = PromoCode(id=new_id("promo"), times_redeemed=0, active=True, created_at=now, **values)
    session.add(promo)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            f"promo code {values['code']} exists already", code="promo_code_exists"
        ) from None
    return promo


async def get_by_code(session: AsyncSession, code: str) -> PromoCode:
    promo = await session.scalar(select(PromoCode).where(PromoCode.code == normalize_code(code)))
    if promo is None:
        raise PromoCodeNotFound(f"no promo code {code.strip().upper()!r}")
    return promo


async def redeem(
    session: AsyncSession,
    code: str,
    *,
    customer_id: str,
    subscription_id: str,
    product: str,
    market: str,
    currency: str,
    now: datetime,
) -> ActiveDiscount:
    """Redeem ``code`` for a subscription. The total limit is one guarded UPDATE, and the
    once-per-customer rule a unique constraint, so two racing redemptions cannot both pass."""
    promo = await get_by_code(session, code)
    terms = terms_of(promo)
    check_redeemable(terms, product=product, market=market, currency=currency, now=now)
    counted = await session.execute(
        update(_codes)
        .where(
            _codes.c.id == promo.id,
            or_(
                _codes.c.max_redemptions.is_(None),
                _codes.c.times_redeemed < _codes.c.max_redemptions,
            ),
        )
        .values(times_redeemed=_codes.c.times_redeemed + 1)
    )
    if getattr(counted, "rowcount", 0) != 1:
        raise Conflict(f"promo code {terms.code} has been used up", code="promo_code_exhausted")
    used = await session.scalar(
        select(_redemptions.c.id).where(
            _redemptions.c.promo_code_id == promo.id, _redemptions.c.customer_id == customer_id
        )
    )
    if used is not None:
        raise Conflict(
            f"customer {customer_id} has already used promo code {terms.code}",
            code="promo_code_already_used",
        )
    redemption_id = new_id("red")
    await session.execute(
        _redemptions.insert().values(
            id=redemption_id,
            promo_code_id=promo.id,
            customer_id=customer_id,
            subscription_id=subscription_id,
            periods_remaining=periods_granted(terms),
            redeemed_at=now,
        )
    )
    return ActiveDiscount(redemption_id, terms, periods_granted(terms))


async def active_for(
    session: AsyncSession, subscription_ids: Sequence[str]
) -> dict[str, ActiveDiscount]:
    """The discount each subscription's next invoice carries (one query for a whole batch)."""
    if not subscription_ids:
        return {}
    rows = await session.execute(
        select(
            _redemptions.c.id.label("redemption_id"),
            _redemptions.c.subscription_id,
            _redemptions.c.periods_remaining,
            _codes,
        )
        .join(_codes, _codes.c.id == _redemptions.c.promo_code_id)
        .where(
            _redemptions.c.subscription_id.in_(list(subscription_ids)),
            or_(
                _redemptions.c.periods_remaining.is_(None),
                and_(_redemptions.c.periods_remaining > 0),
            ),
        )
        .order_by(_redemptions.c.redeemed_at)
    )
    found: dict[str, ActiveDiscount] = {}
    for row in rows:
        found.setdefault(
            row.subscription_id,
            ActiveDiscount(row.redemption_id, terms_of(row), row.periods_remaining),
        )
    return found


async def consume(session: AsyncSession, used: Sequence[ActiveDiscount]) -> None:
    """One invoice used each of these discounts: count the periods down."""
    limited = [
        d.redemption_id for d in used if d.periods_remaining is not None and d.source == "promo"
    ]
    if limited:
        await session.execute(
            update(_redemptions)
            .where(_redemptions.c.id.in_(limited))
            .values(periods_remaining=_redemptions.c.periods_remaining - 1)
        )
