"""Tables of the store integrations (App Store, Google Play); migration 0009.

- ``store_subscriptions``: one row per store subscription (Apple's ``originalTransactionId``;
  a Google chain of purchase tokens), linking it to a customer and to the Tenure subscription
  that shows it. ``(channel, store_key)`` is unique: a store subscription is counted once.
- ``store_purchase_tokens``: Google purchase tokens; an upgrade or resubscribe issues a new
  token whose ``linkedPurchaseToken`` names the old one, and both belong to one chain.
- ``store_transactions``: every store transaction (Apple transaction, Google order) recorded
  once (primary key), with the paid invoice it produced.
- ``store_notifications``: the inbox; ``(channel, notification_id)`` is unique, so a duplicate
  delivery or a replay stores nothing.
- ``store_account_tokens``: a token Tenure issues per customer for ``appAccountToken`` (a UUID)
  or ``obfuscatedExternalAccountId``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenure.customers import models as _customers  # noqa: F401 - FK target
from tenure.db.base import Base, BigIntPK, JSONType, UTCDateTime


class StoreSubscription(Base):
    __tablename__ = "store_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # app_store | google_play
    # Apple: originalTransactionId. Google: sha256 of the chain's first purchase token.
    store_key: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(String(40), ForeignKey("customers.id"))
    subscription_id: Mapped[str] = mapped_column(String(40), index=True)
    product_id: Mapped[str] = mapped_column(String(160))  # the store's product id
    # The store's signed time of the last state applied: an older notification is stale.
    state_as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the store should have told us something by (a renewal, the end of grace): past it,
    # the worker asks the store's API (a missed notification).
    check_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Google: the current purchase token (its hash) and whether it still needs acknowledging.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    ack_state: Mapped[str | None] = mapped_column(String(16))  # pending | acknowledged
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("channel", "store_key", name="uq_store_subscriptions_key"),
        Index("ix_store_subscriptions_check", "check_after"),
        Index("ix_store_subscriptions_ack", "ack_state"),
    )


class StorePurchaseToken(Base):
    __tablename__ = "store_purchase_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The token itself is needed to call the Play Developer API; never logged or returned.
    token: Mapped[str] = mapped_column(Text)
    store_subscription_id: Mapped[str] = mapped_column(String(40), index=True)
    linked_token_hash: Mapped[str | None] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(160))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StoreTransaction(Base):
    __tablename__ = "store_transactions"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    store_subscription_id: Mapped[str] = mapped_column(String(40), index=True)
    subscription_id: Mapped[str] = mapped_column(String(40))
    invoice_id: Mapped[str | None] = mapped_column(String(40))  # None: nothing was paid
    product_id: Mapped[str] = mapped_column(String(160))
    amount: Mapped[int | None] = mapped_column(BigInteger)  # minor units; None: not reported
    currency: Mapped[str | None] = mapped_column(String(3))
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StoreNotification(Base):
    __tablename__ = "store_notifications"

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    notification_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    subtype: Mapped[str | None] = mapped_column(String(64))
    environment: Mapped[str] = mapped_column(String(16))
    store_key: Mapped[str | None] = mapped_column(String(128))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending | processed | stale | ignored | unlinked | unmapped | superseded
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The verified, decoded notification (Apple: with its signed parts decoded; Google: the
    # developer notification, the purchase token replaced by its hash).
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        UniqueConstraint("channel", "notification_id", name="uq_store_notifications_id"),
        Index("ix_store_notifications_status", "status", "signed_at"),
        Index("ix_store_notifications_key", "channel", "store_key"),
    )


class StoreAccountToken(Base):
    __tablename__ = "store_account_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), ForeignKey("customers.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
