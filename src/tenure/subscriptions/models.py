from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenure.customers import models as _customers  # noqa: F401 - FK target
from tenure.db.base import Base, BigIntPK, JSONType, UTCDateTime
from tenure.subscriptions.state import LIVE_STATUSES

_LIVE_SQL = "status IN (" + ", ".join(f"'{status}'" for status in sorted(LIVE_STATUSES)) + ")"
# Only web subscriptions are Tenure's to refuse: a store subscription exists because the store
# says so, and is unique by its store identity (tenure.stores.models) instead.
_LIVE_WEB_SQL = f"channel = 'web' AND {_LIVE_SQL}"


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), ForeignKey("customers.id"))
    # Copied from the customer so that due-work queries stay on one indexed table.
    test_clock_id: Mapped[str | None] = mapped_column(String(40))
    market: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(3))  # the customer's tax region
    plan_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(64))
    # The price is locked in at subscribe time; a catalog edit never re-prices a subscriber.
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # An intro offer bills ``intro_price`` for the next ``intro_periods_remaining`` periods.
    intro_price: Mapped[int | None] = mapped_column(BigInteger)
    intro_periods_remaining: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(24))
    billing_anchor: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    trial_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trial_notice_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    incomplete_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grace_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_method: Mapped[str | None] = mapped_column(String(64))
    # Dunning (migration 0004): when the account hold ends and when the next retry is due.
    hold_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The earliest moment something falls due for this subscription; NULL when nothing will.
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Your own key/value pairs (Stripe's limits), returned everywhere and carried in events.
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSONType, default=dict)
    # web | app_store | google_play (migration 0009): who bills it and moves its periods.
    channel: Mapped[str] = mapped_column(String(16), default="web", server_default="web")
    # False: a prepaid plan's subscription, which ends with the time bought (migration 0013).
    renews: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Retention (migration 0015): when subscription.pause_ending is due for the running pause
    # (NULL once sent, or when there is none).
    pause_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the customer canceled (a fixed reason) and what they said (<= 500 characters, never
    # a card number: the API refuses one). Cleared by reactivate.
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    cancel_comment: Mapped[str | None] = mapped_column(String(500))
    # The catalog price version the locked price came from ("base": the plan's own prices).
    price_version: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # "At most one live web subscription per customer" is a constraint, not a check.
        Index(
            "uq_subscriptions_one_live_per_customer",
            "customer_id",
            unique=True,
            postgresql_where=text(_LIVE_WEB_SQL),
            sqlite_where=text(_LIVE_WEB_SQL),
        ),
        Index("ix_subscriptions_customer", "customer_id", "created_at"),
        Index("ix_subscriptions_due", "test_clock_id", "next_action_at", "id"),
        # Real time's claim (``test_clock_id IS NULL``): PostgreSQL does not take IS NULL on the
        # leading column as fixing it, so only this partial index gives the ORDER BY's order.
        Index(
            "ix_subscriptions_due_now",
            "next_action_at",
            "id",
            postgresql_where=text("test_clock_id IS NULL"),
            sqlite_where=text("test_clock_id IS NULL"),
        ),
    )


class SubscriptionItem(Base):
    """An add-on attached to a subscription (migration 0013): its own plan, locked price and
    features, billed on the subscription's invoices as its own line."""

    __tablename__ = "subscription_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40), ForeignKey("subscriptions.id"))
    plan_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(64))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # pending (its charge in flight) | active | removed | ended (with the subscription) | failed
    status: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # One of each add-on per subscription at a time: a constraint, not a check.
        Index(
            "uq_subscription_items_one_per_product",
            "subscription_id",
            "product_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'active')"),
            sqlite_where=text("status IN ('pending', 'active')"),
        ),
    )


class SubscriptionHistory(Base):
    __tablename__ = "subscription_history"

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(80))


class ScheduledChange(Base):
    """A future change to a subscription (cancel at period end, a plan change at renewal, later a
    pause): a row with an effective time, applied by the due batch, never a flag on the row."""

    __tablename__ = "scheduled_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40), ForeignKey("subscriptions.id"))
    kind: Mapped[str] = mapped_column(String(24))  # cancel | plan_change | pause
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    plan_id: Mapped[str | None] = mapped_column(String(64))
    resumes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a pause's end
    # A price change: the new price, its consent rule (notice | opt_in), when the customer
    # accepted it, and the price change that scheduled it.
    amount: Mapped[int | None] = mapped_column(BigInteger)
    consent: Mapped[str | None] = mapped_column(String(16))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    price_change_id: Mapped[str | None] = mapped_column(String(40))
    price_version: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | applied | canceled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # At most one pending change of each kind per subscription.
        Index(
            "uq_scheduled_changes_one_pending",
            "subscription_id",
            "kind",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class PriceChange(Base):
    """Moving the subscribers of a plan in a market to a catalog price version: once per
    (plan, market, version), by a unique constraint."""

    __tablename__ = "price_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    market: Mapped[str] = mapped_column(String(2))
    version: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    consent: Mapped[str] = mapped_column(String(16))
    notice_days: Mapped[int] = mapped_column(Integer)
    # Cohorts that keep their price: started before a date, or on some price versions.
    grandfather_started_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grandfather_versions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    scheduled: Mapped[int] = mapped_column(Integer)  # subscriptions it scheduled
    grandfathered: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("plan_id", "market", "version", name="uq_price_changes_version"),
    )


class TrialRedemption(Base):
    """A trial used by a customer for a product family: the primary key makes it once, ever."""

    __tablename__ = "trial_redemptions"

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    family: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40))
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IntroRedemption(Base):
    """An intro offer used by a customer for a product family: once, ever (the primary key)."""

    __tablename__ = "intro_redemptions"

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    family: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40))
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime)
