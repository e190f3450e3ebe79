from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, BigIntPK, JSONType, UTCDateTime


class OutboxEvent(Base):
    """An event, written in the transaction of the change it describes.

    ``pk`` is the insertion order. ``position`` is the public, gap-free reading order: it is
    assigned after commit by the sequencer (see ``events.sequencer``), because on PostgreSQL
    rows become visible in commit order, not in ``pk`` order, and a cursor over ``pk`` could
    skip an event that commits late.
    """

    __tablename__ = "outbox_events"

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    type: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customer_id: Mapped[str | None] = mapped_column(String(40))
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    sequence: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Operators' context, outside the payload: the API request that recorded the event (its
    # X-Request-Id) and its W3C traceparent, carried into webhook and NATS headers.
    request_id: Mapped[str | None] = mapped_column(String(128))
    traceparent: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("subscription_id", "sequence", name="uq_outbox_events_subscription_seq"),
        Index(
            "ix_outbox_events_unsequenced",
            "pk",
            postgresql_where=text("position IS NULL"),
            sqlite_where=text("position IS NULL"),
        ),
        Index("ix_outbox_events_customer", "customer_id", "pk"),
    )
