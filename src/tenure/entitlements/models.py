"""The entitlements projection (one row per customer) and support grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.customers import models as _customers  # noqa: F401 - FK target
from tenure.db.base import Base, UTCDateTime


class EntitlementRow(Base):
    """What a customer may do now, kept in the transaction of every change that affects it.

    ``version`` goes up by one each time the projected value changes; it is the ETag.
    Features are not stored: they come from the running catalog's product at read time.
    """

    __tablename__ = "entitlements"

    customer_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("customers.id"), primary_key=True
    )
    # Copied from the customer (never changes) so a lookup by external id is one indexed read.
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    test_clock_id: Mapped[str | None] = mapped_column(String(40))
    product: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))  # the source's status, or "free"
    source: Mapped[str] = mapped_column(String(16))  # subscription | household | grant | free
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    household_id: Mapped[str | None] = mapped_column(String(40))
    grant_id: Mapped[str | None] = mapped_column(String(40))
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    billing_issue: Mapped[bool] = mapped_column(Boolean)
    # When the value changes by time alone (a grant's end): a reader past it recomputes.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Add-on products granted on top (comma-separated ids, sorted; migration 0013).
    addons: Mapped[str] = mapped_column(String(300), default="", server_default="")
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Grant(Base):
    """A product given by support for a period, with a reason. Ends at ``ends_at`` (due work)."""

    __tablename__ = "entitlement_grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), ForeignKey("customers.id"))
    test_clock_id: Mapped[str | None] = mapped_column(String(40))
    product_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # active | ended | revoked
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_entitlement_grants_customer", "customer_id", "created_at"),
        # Due work: active grants by clock and end, like subscriptions' next_action_at.
        Index(
            "ix_entitlement_grants_due",
            "test_clock_id",
            "ends_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )
