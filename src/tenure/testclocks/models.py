from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, UTCDateTime


class TestClock(Base):
    __tablename__ = "test_clocks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    frozen_time: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="ready")  # ready | advancing
    # While advancing: wall-clock time after which the advance counts as crashed and a retry
    # may take it over (renewed at every step).
    advance_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
