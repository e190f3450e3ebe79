"""Delivery state, one row per (destination, event), kept apart from the outbox itself.

A destination is ``nats`` or a webhook endpoint id. The outbox stays append-only; relays fan
committed events out into ``event_deliveries`` (``relay_cursors`` remembers how far, per kind
of destination) and then claim, send and mark those rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, BigIntPK, UTCDateTime

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"  # gave up after the retry horizon: visible, replayable
PAUSED = "paused"  # its endpoint is disabled; resumes when it is enabled again
STATUSES = (PENDING, DELIVERED, DEAD, PAUSED)

_PENDING_SQL = text("status = 'pending'")


class EventDelivery(Base):
    __tablename__ = "event_deliveries"

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "nats" | "webhook"
    destination: Mapped[str] = mapped_column(String(40))
    event_pk: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(BigInteger)
    # Deliveries with the same key go out one at a time, in position order.
    ordering_key: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # One delivery per event and destination: fan-out and replay can never double it.
        UniqueConstraint("destination", "event_id", name="uq_event_deliveries_destination_event"),
        Index(
            "ix_event_deliveries_due",
            "kind",
            "position",
            postgresql_where=_PENDING_SQL,
            sqlite_where=_PENDING_SQL,
        ),
        Index(
            "ix_event_deliveries_chain",
            "destination",
            "ordering_key",
            "position",
            postgresql_where=_PENDING_SQL,
            sqlite_where=_PENDING_SQL,
        ),
        Index("ix_event_deliveries_destination", "destination", "position"),
    )


class RelayCursor(Base):
    """How far fan-out has read the outbox (by ``position``) for one kind of destination."""

    __tablename__ = "relay_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
