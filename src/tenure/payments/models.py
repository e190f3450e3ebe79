from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, BigIntPK, JSONType, UTCDateTime


class PaymentAttempt(Base):
    """One try at collecting an invoice, stored before the provider is called."""

    __tablename__ = "payment_attempts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(40), index=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    test_clock_id: Mapped[str | None] = mapped_column(String(40))
    attempt_number: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    decline_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    provider_charge_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # True when the customer is present (the first payment, POST /v1/invoices/{id}/pay): the
    # provider may ask for 3-D Secure, and the attempt then waits in ``requires_action``.
    on_session: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Wall-clock lease: a pending attempt whose lease ran out is resolved by the recovery sweep.
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # An invoice is paid at most once, and has at most one attempt in flight.
        Index(
            "uq_payment_attempts_one_success",
            "invoice_id",
            unique=True,
            postgresql_where=text("status = 'succeeded'"),
            sqlite_where=text("status = 'succeeded'"),
        ),
        Index(
            "uq_payment_attempts_one_pending",
            "invoice_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_payment_attempts_pending",
            "lease_until",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class SandboxCharge(Base):
    """The sandbox provider's own ledger: what the "remote" provider believes it charged."""

    __tablename__ = "sandbox_charges"

    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    charge_id: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SandboxRefund(Base):
    """The sandbox provider's refunds, keyed by the caller's idempotency key."""

    __tablename__ = "sandbox_refunds"

    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(40), unique=True)
    charge_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderCustomer(Base):
    """Tenure's customer at a payment provider: Stripe ``cus_…`` / Adyen ``shopperReference``."""

    __tablename__ = "provider_customers"

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderRequest(Base):
    """The adapters' journal: written (and committed) before a charge or refund is sent,
    completed after. It says which provider a key went to and, for an unknown outcome, what
    was sent and which object (PaymentIntent, pspReference) it created, so a lookup can ask
    the provider about exactly that object instead of guessing."""

    __tablename__ = "provider_requests"

    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # charge | refund
    provider: Mapped[str] = mapped_column(String(16))
    provider_customer: Mapped[str | None] = mapped_column(String(256))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The provider's object: pi_… / re_… (Stripe), pspReference (Adyen); None until known.
    reference: Mapped[str | None] = mapped_column(String(128), index=True)
    # sent | succeeded | declined | pending | action_required | failed
    status: Mapped[str] = mapped_column(String(16))
    # What was sent (no credentials; tokens only), so an Adyen replay is the same request.
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderEvent(Base):
    """The inbox of provider webhooks: one row per provider event, whatever happens next.

    ``(provider, event_id)`` is unique, so a duplicate delivery or a replay inserts nothing.
    ``status``: ``pending`` (waiting for a handler; phase 2 kinds wait here), ``processed``,
    ``ignored`` (unknown type, or superseded by a newer event for the same object).
    """

    __tablename__ = "provider_events"

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_provider_events_event"),
        Index(
            "ix_provider_events_pending",
            "occurred_at",
            "pk",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_provider_events_object", "provider", "object_id"),
    )


class RateLimitState(Base):
    """Shared provider rate limit on PostgreSQL: the GCRA "theoretical arrival time"."""

    __tablename__ = "rate_limits"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[float] = mapped_column(Double)
