from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, UTCDateTime


class DunningCase(Base):
    """One unpaid renewal invoice and the policy that chases it, from failure to outcome."""

    __tablename__ = "dunning_cases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40))
    invoice_id: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # open | recovered | exhausted | ended
    # The policy as it was when the case opened: a later catalog edit never moves a case.
    policy: Mapped[dict[str, Any]] = mapped_column(JSONType)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    grace_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hold_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    last_decline_code: Mapped[str | None] = mapped_column(String(64))
    # The stored payment method that declined hard: not retried until another becomes default.
    blocked_method_id: Mapped[str | None] = mapped_column(String(40))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "uq_dunning_cases_one_open",
            "subscription_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )
