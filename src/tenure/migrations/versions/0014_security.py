"""security: scoped API keys, append-only audit log, encrypted secrets, data lifecycle

Revision ID: 0014_security
Revises: 0013_lifecycle
Create Date: 2026-12-01 20:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenure.db import crypto

revision: str = "0014_security"
down_revision: str | None = "0013_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("scopes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("prefix", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    # Keys from before scopes could do everything; they keep doing so until replaced.
    op.execute("UPDATE api_keys SET scopes = 'admin'")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=250), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("before", _json(), nullable=True),
        sa.Column("after", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target_id"])
    op.create_index("ix_audit_log_customer", "audit_log", ["customer_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    _append_only()
    # Webhook signing secrets are encrypted at rest (db/crypto.py): room for the ciphertext,
    # and the rows already stored are encrypted now when TENURE_SECRET_KEY is set (otherwise
    # `tenure secrets reencrypt` does it once a key is set).
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_nullable=False)
        batch.alter_column("previous_secret", type_=sa.Text(), existing_nullable=True)
    _encrypt_webhook_secrets()
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _encrypt_webhook_secrets() -> None:
    if not crypto.enabled():
        return
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, secret, previous_secret FROM webhook_endpoints")).all()
    for row in rows:
        values = {
            "id": row.id,
            "secret": _sealed(row.secret),
            "previous": None if row.previous_secret is None else _sealed(row.previous_secret),
        }
        bind.execute(
            sa.text(
                "UPDATE webhook_endpoints SET secret = :secret, previous_secret = :previous "
                "WHERE id = :id"
            ),
            values,
        )


def _sealed(value: str) -> str:
    return value if value.startswith(crypto.MARK) else crypto.encrypt(value)


def _append_only() -> None:
    """The database itself refuses to change or remove audit rows."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION tenure_audit_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION tenure_audit_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only ({verb} refused)'); END"
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("erased_at")
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("previous_secret", type_=sa.String(length=100), existing_nullable=True)
        batch.alter_column("secret", type_=sa.String(length=100), existing_nullable=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS tenure_audit_append_only()")
    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("prefix")
        batch.drop_column("scopes")
        batch.drop_column("role")
