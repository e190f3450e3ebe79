from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.customers import models as _customers  # noqa: F401 - FK target
from tenure.db.base import Base, UTCDateTime
from tenure.subscriptions import models as _subscriptions  # noqa: F401 - FK target


class Household(Base):
    """Owned by the manager's Duo/Family subscription; lives while that subscription does."""

    __tablename__ = "households"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40), ForeignKey("subscriptions.id"))
    manager_customer_id: Mapped[str] = mapped_column(String(40), ForeignKey("customers.id"))
    test_clock_id: Mapped[str | None] = mapped_column(String(40))
    product_id: Mapped[str] = mapped_column(String(64))
    # Seats including the manager (the product's ``accounts``) and how many are taken. Accepts
    # take a seat with a guarded UPDATE (seats_used < seats_limit), so the limit holds under
    # concurrent accepts on every backend.
    seats_limit: Mapped[int] = mapped_column(Integer)
    seats_used: Mapped[int] = mapped_column(Integer)
    # HMAC-SHA256 of the normalized home address with the installation's salt; never the address.
    address_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # active | ended
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index(
            "uq_households_one_active_per_subscription",
            "subscription_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index("ix_households_manager", "manager_customer_id"),
    )


class HouseholdMember(Base):
    """A seat taken by a customer (the manager holds one too). History stays: leaving sets
    ``left_at``."""

    __tablename__ = "household_members"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(40), ForeignKey("households.id"))
    customer_id: Mapped[str] = mapped_column(String(40), ForeignKey("customers.id"))
    role: Mapped[str] = mapped_column(String(16))  # manager | member
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        # A customer belongs to at most one household at a time: a constraint, not a check.
        Index(
            "uq_household_members_one_household",
            "customer_id",
            unique=True,
            postgresql_where=text("left_at IS NULL"),
            sqlite_where=text("left_at IS NULL"),
        ),
        Index("ix_household_members_household", "household_id", "joined_at"),
    )


class HouseholdInvite(Base):
    """A single-use code with an expiry."""

    __tablename__ = "household_invites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(40), ForeignKey("households.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | accepted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_by: Mapped[str | None] = mapped_column(String(40))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HouseholdSalt(Base):
    """The per-installation salt for address hashes (one row, written by the migration)."""

    __tablename__ = "household_salt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
