from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenure.customers import models as _customers  # noqa: F401 - FK target
from tenure.db.base import Base, JSONType, UTCDateTime

_PERIOD_BILLS = "billing_reason IN ('subscription_create', 'subscription_cycle', 'trial_end')"


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), ForeignKey("customers.id"))
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # draft|open|paid|void|uncollectible
    billing_reason: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    # Cash captured by the provider (never the credit).
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    # Taken from the customer's credit balance before charging (never more than the total).
    credit_applied: Mapped[int] = mapped_column(BigInteger, default=0)
    # A negative total (credits exceed charges) moves to the customer's credit balance.
    credited_to_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Credit given back to the balance: when voided, or when its cash was refunded in full.
    credit_returned: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # The unused part of this paid invoice already given back as balance credit (a cancel with
    # credit, a recovery after an account hold; migration 0013): no longer refundable.
    credited_unused: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    tax_inclusive: Mapped[bool] = mapped_column(Boolean)
    tax_rate: Mapped[str] = mapped_column(String(16))  # percent as an exact decimal string
    tax_name: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSONType, default=dict)

    __table_args__ = (
        # A period is billed once: a re-run of the renewal batch cannot invoice it again.
        # (Plan-change invoices are extra bills inside a period, so they are not counted.)
        Index(
            "uq_invoices_subscription_period",
            "subscription_id",
            "period_start",
            unique=True,
            postgresql_where=text(_PERIOD_BILLS),
            sqlite_where=text(_PERIOD_BILLS),
        ),
        Index("ix_invoices_customer", "customer_id", "id"),
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(40), ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
    plan_id: Mapped[str | None] = mapped_column(String(64))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[int] = mapped_column(BigInteger)  # as priced: gross if tax-inclusive, else net
    net: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)


class CustomerBalance(Base):
    """Credit a customer holds, in their market's currency, applied first to the next invoices."""

    __tablename__ = "customer_balances"

    customer_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("customers.id"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("amount >= 0", name="balance_not_negative"),)


class BalanceTransaction(Base):
    """Every movement of a credit balance, for audit: the balance is their sum."""

    __tablename__ = "balance_transactions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # + credit added, - credit used
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(40))
    invoice_id: Mapped[str | None] = mapped_column(String(40))
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CreditNote(Base):
    """A refund of (part of) a paid invoice: what was refunded, why, and the provider's answer."""

    __tablename__ = "credit_notes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(40), ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    charge_id: Mapped[str] = mapped_column(String(64))
    # Wall-clock lease: a pending note past it was left by a crash and is resolved by the worker.
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
    provider_refund_id: Mapped[str | None] = mapped_column(String(64), index=True)
    failure_message: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Credit this refund gave back to the balance (the invoice's cash was then fully refunded).
    credit_returned: Mapped[int] = mapped_column(BigInteger, default=0)


class PromoCode(Base):
    __tablename__ = "promo_codes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # stored upper case
    kind: Mapped[str] = mapped_column(String(16))  # percent | amount
    percent_off: Mapped[str | None] = mapped_column(String(16))  # exact decimal text, "20"
    amount_off: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    duration: Mapped[str] = mapped_column(String(16))  # once | repeating | forever
    duration_periods: Mapped[int | None] = mapped_column(Integer)
    products: Mapped[list[str]] = mapped_column(JSONType)
    markets: Mapped[list[str]] = mapped_column(JSONType)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    times_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PromoRedemption(Base):
    """A customer's use of a promo code; unique per (code, customer): once per customer."""

    __tablename__ = "promo_redemptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    promo_code_id: Mapped[str] = mapped_column(String(40), ForeignKey("promo_codes.id"))
    customer_id: Mapped[str] = mapped_column(String(40))
    subscription_id: Mapped[str] = mapped_column(String(40), index=True)
    # Invoices still discounted; NULL = forever, 0 = used up.
    periods_remaining: Mapped[int | None] = mapped_column(Integer)
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("promo_code_id", "customer_id", name="uq_promo_redemptions_customer"),
    )


class Dispute(Base):
    """A chargeback (or an inquiry that may become one) on a payment Tenure collected.

    ``(provider, provider_dispute_id)`` is unique: every event about a dispute finds the one row.
    """

    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    # Stripe ``dp_…``; Adyen: the disputed payment's pspReference (one dispute per payment).
    provider_dispute_id: Mapped[str] = mapped_column(String(128))
    invoice_id: Mapped[str] = mapped_column(String(40), ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    charge_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # open | won | lost
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("provider", "provider_dispute_id", name="uq_disputes_provider_dispute"),
    )


class OfferRedemption(Base):
    """A retention offer a customer took (a save offer, or a win-back price on resubscribe);
    a discount offer counts its invoices down like a promo code (docs/retention.md)."""

    __tablename__ = "offer_redemptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    subscription_id: Mapped[str] = mapped_column(String(40), index=True)
    offer_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # save | winback
    percent_off: Mapped[str | None] = mapped_column(String(16))  # exact decimal text, "50"
    # Invoices still discounted; NULL for offers that are not discounts, 0 = used up.
    periods_remaining: Mapped[int | None] = mapped_column(Integer)
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OfferWindow(Base):
    """Once per customer per window: one row per (customer, offer) holding the last time it
    was taken. The primary key makes the first redemption unique; every later one is a guarded
    UPDATE that only succeeds once the window has passed, so two racing takers cannot both."""

    __tablename__ = "offer_windows"

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime)
