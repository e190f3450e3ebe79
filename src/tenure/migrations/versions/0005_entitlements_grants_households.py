"""entitlements projection, grants, households

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25 23:43:31.659803
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    salt = op.create_table(
        "household_salt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_salt")),
    )
    # The per-installation salt for household address hashes, generated once, here.
    op.bulk_insert(salt, [{"id": 1, "salt": secrets.token_hex(16)}])
    op.create_table(
        "entitlement_grants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("test_clock_id", sa.String(length=40), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_entitlement_grants_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_grants")),
    )
    with op.batch_alter_table("entitlement_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entitlement_grants_customer", ["customer_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_entitlement_grants_due",
            ["test_clock_id", "ends_at"],
            unique=False,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "entitlements",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("test_clock_id", sa.String(length=40), nullable=True),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=True),
        sa.Column("household_id", sa.String(length=40), nullable=True),
        sa.Column("grant_id", sa.String(length=40), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("billing_issue", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_entitlements_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_entitlements")),
        sa.UniqueConstraint("external_id", name=op.f("uq_entitlements_external_id")),
    )
    op.create_table(
        "households",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("manager_customer_id", sa.String(length=40), nullable=False),
        sa.Column("test_clock_id", sa.String(length=40), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("seats_limit", sa.Integer(), nullable=False),
        sa.Column("seats_used", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["manager_customer_id"],
            ["customers.id"],
            name=op.f("fk_households_manager_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_households_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
    )
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.create_index("ix_households_manager", ["manager_customer_id"], unique=False)
        batch_op.create_index(
            "uq_households_one_active_per_subscription",
            ["subscription_id"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "household_invites",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("household_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by", sa.String(length=40), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_household_invites_household_id_households"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_household_invites")),
    )
    with op.batch_alter_table("household_invites", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_household_invites_household_id"), ["household_id"], unique=False
        )

    op.create_table(
        "household_members",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("household_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_household_members_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_household_members_household_id_households"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_members")),
    )
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_household_members_household", ["household_id", "joined_at"], unique=False
        )
        batch_op.create_index(
            "uq_household_members_one_household",
            ["customer_id"],
            unique=True,
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_household_members_one_household",
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )
        batch_op.drop_index("ix_household_members_household")

    op.drop_table("household_members")
    with op.batch_alter_table("household_invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_invites_household_id"))

    op.drop_table("household_invites")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_households_one_active_per_subscription",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_households_manager")

    op.drop_table("households")
    op.drop_table("entitlements")
    with op.batch_alter_table("entitlement_grants", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_entitlement_grants_due",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_entitlement_grants_customer")

    op.drop_table("entitlement_grants")
    op.drop_table("household_salt")
