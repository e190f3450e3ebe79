"""Retention offers taken by customers: once per customer per window, and the discount a
discount offer puts on the next invoices (docs/retention.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing.discounts import PromoTerms
from tenure.billing.models import OfferRedemption, OfferWindow
from tenure.billing.promotions import ActiveDiscount
from tenure.db.base import table_of
from tenure.kernel.errors import Conflict
from tenure.kernel.ids import new_id

_redemptions = table_of(OfferRedemption)
_windows = table_of(OfferWindow)


class OfferAlreadyUsed(Conflict):
    code = "offer_not_eligible"


@dataclass(frozen=True, slots=True)
class Taken:
    """When a customer last took offers: this one and any of a kind."""

    by_offer: dict[str, datetime]
    last_of_kind: datetime | None


async def taken(session: AsyncSession, customer_id: str, kind: str) -> Taken:
    rows = await session.execute(
        select(_windows.c.offer_id, _windows.c.redeemed_at).where(
            _windows.c.customer_id == customer_id
        )
    )
    last = await session.scalar(
        select(func.max(_redemptions.c.redeemed_at)).where(
            _redemptions.c.customer_id == customer_id, _redemptions.c.kind == kind
        )
    )
    return Taken({row.offer_id: row.redeemed_at for row in rows}, last)


def _terms(offer_id: str, percent_off: Fraction, periods: int | None) -> PromoTerms:
    return PromoTerms(
        code=offer_id,
        kind="percent",
        percent_off=percent_off,
        amount_off=None,
        currency=None,
        duration="repeating" if periods is not None else "forever",
        duration_periods=periods,
        products=[],
        markets=[],
        valid_from=None,
        valid_until=None,
        max_redemptions=None,
        times_redeemed=0,
        active=True,
    )


async def redeem(
    session: AsyncSession,
    *,
    customer_id: str,
    subscription_id: str,
    offer_id: str,
    kind: str,
    window_days: int,
    now: datetime,
    percent_off: Fraction | None = None,
    periods: int | None = None,
) -> ActiveDiscount | None:
    """Take an offer: claim its window (409 ``offer_not_eligible`` when the customer took it
    within ``window_days``) and record the redemption; a discount offer's discount is returned
    for the invoice being built now, if any."""
    last = await session.scalar(
        select(_windows.c.redeemed_at).where(
            _windows.c.customer_id == customer_id, _windows.c.offer_id == offer_id
        )
    )
    if last is None:
        # The primary key refuses a second first redemption racing this one.
        await session.execute(
            insert(_windows).values(customer_id=customer_id, offer_id=offer_id, redeemed_at=now)
        )
    else:
        await _claim_again(session, customer_id, offer_id, window_days, now)
    redemption_id = new_id("ofr")
    percent_text = None
    if percent_off is not None:
        shown = percent_off * 100
        percent_text = str(shown.numerator) if shown.denominator == 1 else str(float(shown))
    await session.execute(
        insert(_redemptions).values(
            id=redemption_id,
            customer_id=customer_id,
            subscription_id=subscription_id,
            offer_id=offer_id,
            kind=kind,
            percent_off=percent_text,
            periods_remaining=periods if percent_off is not None else None,
            redeemed_at=now,
        )
    )
    if percent_off is None:
        return None
    return ActiveDiscount(
        redemption_id, _terms(offer_id, percent_off, periods), periods, source="offer"
    )


async def _claim_again(
    session: AsyncSession, customer_id: str, offer_id: str, window_days: int, now: datetime
) -> None:
    """A guarded UPDATE: it moves the window only when the last redemption is older than it,
    so of two racing takers (the row lock serializes them) only the first succeeds."""
    claimed = await session.execute(
        update(_windows)
        .where(
            _windows.c.customer_id == customer_id,
            _windows.c.offer_id == offer_id,
            _windows.c.redeemed_at <= now - timedelta(days=window_days),
        )
        .values(redeemed_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise OfferAlreadyUsed(
            f"{customer_id} took {offer_id} within the last {window_days} days",
            offer=offer_id,
            reason="offer_already_used",
        )


async def active_for(
    session: AsyncSession, subscription_ids: Sequence[str]
) -> dict[str, ActiveDiscount]:
    """The offer discount each subscription's next invoice carries (one query for a batch)."""
    if not subscription_ids:
        return {}
    rows = await session.execute(
        select(_redemptions)
        .where(
            _redemptions.c.subscription_id.in_(list(subscription_ids)),
            _redemptions.c.percent_off.is_not(None),
            _redemptions.c.periods_remaining > 0,
        )
        .order_by(_redemptions.c.redeemed_at)
    )
    found: dict[str, ActiveDiscount] = {}
    for row in rows:
        terms = _terms(row.offer_id, Fraction(row.percent_off) / 100, row.periods_remaining)
        found.setdefault(
            row.subscription_id,
            ActiveDiscount(row.id, terms, row.periods_remaining, source="offer"),
        )
    return found


async def consume(session: AsyncSession, redemption_ids: Sequence[str]) -> None:
    if redemption_ids:
        await session.execute(
            update(_redemptions)
            .where(_redemptions.c.id.in_(list(redemption_ids)))
            .values(periods_remaining=_redemptions.c.periods_remaining - 1)
        )
