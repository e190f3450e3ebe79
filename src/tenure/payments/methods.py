"""Stored payment methods: provider tokens with the card's brand, last 4 and expiry.

A full card number is never accepted or stored (PCI DSS scope): only the provider's token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Boolean, Index, Integer, String, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, UTCDateTime, table_of
from tenure.db.engine import is_postgres
from tenure.kernel.errors import InvalidRequest, NotFound
from tenure.kernel.ids import new_id
from tenure.payments.ports import StoredCard


class PaymentMethod(Base):
    __tablename__ = "payment_methods"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    # The provider that holds the token, and the customer it belongs to there (Stripe
    # ``cus_…``, Adyen ``shopperReference``; None for the sandbox).
    provider: Mapped[str] = mapped_column(String(16), default="sandbox")
    provider_customer: Mapped[str | None] = mapped_column(String(256))
    provider_token: Mapped[str] = mapped_column(String(64))
    brand: Mapped[str] = mapped_column(String(24))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The provider's time of the card details shown (an account-updater event older than this
    # changes nothing); None: as fetched when attached.
    details_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_payment_methods_customer", "customer_id", "id"),
        Index("ix_payment_methods_token", "provider", "provider_token"),
        # At most one default per customer is a constraint, not a check.
        Index(
            "uq_payment_methods_one_default",
            "customer_id",
            unique=True,
            postgresql_where=text("is_default AND detached_at IS NULL"),
            sqlite_where=text("is_default AND detached_at IS NULL"),
        ),
    )


@dataclass(frozen=True, slots=True)
class CardDetails:
    brand: str
    last4: str
    exp_month: int
    exp_year: int


# What the sandbox's test cards look like; plausible fixed values, one per token.
SANDBOX_CARDS: Final[dict[str, CardDetails]] = {
    "pm_card_visa": CardDetails("visa", "4242", 12, 2034),
    "pm_card_mastercard": CardDetails("mastercard", "4444", 11, 2033),
    "pm_card_declined": CardDetails("visa", "0002", 10, 2032),
    "pm_card_insufficient_funds": CardDetails("visa", "9995", 9, 2031),
    "pm_card_expired": CardDetails("visa", "0069", 1, 2024),
    "pm_card_lost": CardDetails("visa", "9987", 8, 2030),
    "pm_card_fails_after_first": CardDetails("visa", "0341", 7, 2032),
    "pm_card_timeout_after_charge": CardDetails("mastercard", "0077", 6, 2033),
    "pm_card_recovers_on_retry": CardDetails("visa", "3155", 5, 2031),
}
_UNKNOWN_CARD: Final = CardDetails("unknown", "0000", 1, 2099)

# 13 to 19 digits, optionally grouped with spaces or dashes: a primary account number.
_PAN: Final = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")


# Adyen's storedPaymentMethodId: 16 digits starting with 8, written without separators. Major
# industry identifier 8 (ISO/IEC 7812) is not a card network's, so this shape is a token, not a
# card number; every other 13-19 digit run (grouped or not) is still refused.
_ADYEN_TOKEN: Final = re.compile(r"8[0-9]{15}")


def looks_like_card_number(text: str) -> bool:
    """Whether ``text`` carries something shaped like a full card number, Luhn-valid or not."""
    return any(_ADYEN_TOKEN.fullmatch(m.group()) is None for m in _PAN.finditer(text))


class CardNumberRefused(InvalidRequest):
    code = "card_number_not_accepted"


def refuse_card_numbers(text: str) -> None:
    if looks_like_card_number(text):
        raise CardNumberRefused(
            "the request carries what looks like a full card number; Tenure never accepts "
            "card numbers. Collect the card with your payment provider and send its token "
            '(for example "pm_card_visa")'
        )


class PaymentMethodNotFound(NotFound):
    code = "payment_method_not_found"


def card_details(token: str) -> CardDetails:
    return SANDBOX_CARDS.get(token, _UNKNOWN_CARD)


def _active(customer_id: str) -> list[object]:
    return [PaymentMethod.customer_id == customer_id, PaymentMethod.detached_at.is_(None)]


async def list_for(session: AsyncSession, customer_id: str) -> list[PaymentMethod]:
    rows = await session.scalars(
        select(PaymentMethod).where(*_active(customer_id)).order_by(PaymentMethod.id)  # type: ignore[arg-type]
    )
    return list(rows.all())


async def get(
    session: AsyncSession, customer_id: str, method_id: str, *, for_update: bool = False
) -> PaymentMethod:
    statement = select(PaymentMethod).where(
        PaymentMethod.id == method_id,
        *_active(customer_id),  # type: ignore[arg-type]
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    method = await session.scalar(statement)
    if method is None:
        raise PaymentMethodNotFound(
            f"customer {customer_id} has no payment method {method_id!r}",
        )
    return method


async def default_for(
    session: AsyncSession, customer_ids: Sequence[str]
) -> dict[str, PaymentMethod]:
    if not customer_ids:
        return {}
    rows = await session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.customer_id.in_(list(customer_ids)),
            PaymentMethod.is_default.is_(True),
            PaymentMethod.detached_at.is_(None),
        )
    )
    return {row.customer_id: row for row in rows.all()}


async def attach(
    session: AsyncSession,
    *,
    customer_id: str,
    token: str,
    at: datetime,
    stored: StoredCard | None = None,
    default: bool = False,
) -> PaymentMethod:
    """Store a method: the sandbox's test card, or a card the provider stored (``stored``,
    fetched from the provider before this transaction). ``default``: it replaces the
    customer's default (the caller holds the customer's lock); it is then written with two
    Core statements and returned detached from the session."""
    details = (
        card_details(token)
        if stored is None
        else CardDetails(stored.brand, stored.last4, stored.exp_month, stored.exp_year)
    )
    method = PaymentMethod(
        id=new_id("pm"),
        customer_id=customer_id,
        provider="sandbox" if stored is None else stored.provider,
        provider_customer=None if stored is None else stored.provider_customer,
        provider_token=token if stored is None else stored.token,
        brand=details.brand,
        last4=details.last4,
        exp_month=details.exp_month,
        exp_year=details.exp_year,
        is_default=default,
        created_at=at,
        detached_at=None,
        details_as_of=None,
    )
    if default:
        connection = await session.connection()
        await connection.execute(_CLEAR_DEFAULT, {"b_customer_id": customer_id})
        await connection.execute(
            _INSERT, {column.name: getattr(method, column.key) for column in _table.columns}
        )
        return method
    session.add(method)
    await session.flush()
    return method


_table = table_of(PaymentMethod)
_INSERT = insert(_table)
_CLEAR_DEFAULT = (
    update(_table)
    .where(_table.c.customer_id == bindparam("b_customer_id"), _table.c.is_default.is_(True))
    .values(is_default=False)
)


async def make_default(session: AsyncSession, method: PaymentMethod) -> None:
    """Clear the old default first: the partial unique index allows one at a time."""
    await session.execute(
        update(PaymentMethod)
        .where(
            PaymentMethod.customer_id == method.customer_id,
            PaymentMethod.is_default.is_(True),
            PaymentMethod.id != method.id,
        )
        .values(is_default=False)
    )
    method.is_default = True
    await session.flush()


async def detach(session: AsyncSession, method: PaymentMethod, *, at: datetime) -> None:
    method.detached_at = at
    method.is_default = False
    await session.flush()


async def by_token(session: AsyncSession, provider: str, token: str) -> list[PaymentMethod]:
    """Every stored (not detached) method holding this provider token."""
    rows = await session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.provider == provider,
            PaymentMethod.provider_token == token,
            PaymentMethod.detached_at.is_(None),
        )
    )
    return list(rows.all())


async def provider_of(session: AsyncSession, customer_id: str, token: str) -> str | None:
    """Which provider holds ``token`` for this customer (None: no such stored method)."""
    found = await session.scalar(
        select(PaymentMethod.provider)
        .where(PaymentMethod.customer_id == customer_id, PaymentMethod.provider_token == token)
        .order_by(PaymentMethod.created_at.desc())
        .limit(1)
    )
    return None if found is None else str(found)
