from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, UTCDateTime
from tenure.db.crypto import Encrypted

# The ``kind`` of webhook rows in ``event_deliveries`` (and the relay cursor's name).
KIND = "webhook"
ENABLED = "enabled"
DISABLED = "disabled"


class WebhookEndpoint(Base):
    """A receiver of signed webhooks. Its deliveries live in ``event_deliveries``."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    # Event types this endpoint receives; ["*"] means all of them.
    event_types: Mapped[list[str]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept to sign with (HMAC needs the secret itself, not a hash): encrypted at rest with
    # TENURE_SECRET_KEY (db/crypto.py), so the database alone never reveals it.
    secret: Mapped[str] = mapped_column(Encrypted)
    # During a rotation both secrets sign every delivery until the previous one expires.
    previous_secret: Mapped[str | None] = mapped_column(Encrypted)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Start of the current run of failures (cleared by any success): the disable rule's clock.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
