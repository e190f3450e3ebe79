from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, UTCDateTime


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # SHA-256 of the secret: a leaked database does not leak usable keys.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A person's role (viewer, support, finance, admin), or None for a service key whose
    # ``scopes`` (space-separated) say what it may do. Keys made before roles existed: "admin".
    role: Mapped[str | None] = mapped_column(String(20))
    scopes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The first characters of the secret, to recognise a key in lists (never enough to use it).
    prefix: Mapped[str | None] = mapped_column(String(16))
    # Written at most once a minute per process (access.keys.KeyRing), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first response to a POST carrying an ``Idempotency-Key``, replayed to retries."""

    __tablename__ = "idempotency_records"

    api_key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRecord(Base):
    """Who did what to whom and why: one row per support, money or access action, written in
    the action's own transaction. Append-only: the database refuses UPDATE and DELETE
    (triggers, migration 0014_security)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target_id"),
        Index("ix_audit_log_customer", "customer_id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(250))  # api:key_…, user:cus_…, cli, worker
    role: Mapped[str | None] = mapped_column(String(20))  # the key's role; null for services
    action: Mapped[str] = mapped_column(String(60))  # refund_invoice, create_grant, ...
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))
    # Summaries (statuses, amounts, ids), never personal data or secrets.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
