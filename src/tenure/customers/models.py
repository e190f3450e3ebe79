from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, UTCDateTime
from tenure.testclocks import models as _testclocks  # noqa: F401 - FK target


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    market: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(3))  # tax region within the market
    test_clock_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("test_clocks.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The day of the month (1-31) new subscriptions are billed on (Kill Bill's account BCD);
    # NULL: on the day they start (migration 0013).
    billing_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Your own key/value pairs (Stripe's limits), returned everywhere and carried in events.
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSONType, default=dict)
    # Set when the customer's personal data was erased (flows/privacy.py).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
