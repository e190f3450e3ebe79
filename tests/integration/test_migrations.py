"""Migrations on a database that already holds data, and the schema they build equals the models.

Each test builds its own empty database (a new SQLite file, or a new PostgreSQL database).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tenure.db.engine import Database, normalize_url
from tenure.migrations import upgrade
from tenure.migrations.metadata import metadata
from tests.conftest import POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgres"])
async def empty(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield database
        await database.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("TENURE_TEST_POSTGRES_URL not set")
    name = f"tenure_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(POSTGRES_URL)).set(database=name).render_as_string(False)
    database = Database(url)
    yield database
    await database.dispose()
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def test_0007_makes_amount_paid_cash_only_on_existing_invoices(empty: Database) -> None:
    await upgrade(empty, "0006")
    at = datetime(2026, 1, 1, 10, tzinfo=UTC)
    async with empty.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO customers (id, external_id, email, market, created_at) "
                "VALUES ('cus_1', 'u1', 'a@example.com', 'SE', :at)"
            ),
            {"at": at},
        )
        # Before 0007 an invoice partly paid by credit recorded the total as paid.
        for invoice, status, credit, paid in (
            ("in_credit", "paid", 8659, 12900),
            ("in_cash", "paid", 0, 12900),
            ("in_void", "void", 353, 0),
        ):
            await connection.execute(
                text(
                    "INSERT INTO invoices (id, customer_id, subscription_id, status, "
                    "billing_reason, currency, period_start, period_end, subtotal, tax, total, "
                    "amount_paid, credit_applied, credited_to_balance, amount_refunded, "
                    "tax_inclusive, tax_rate, tax_name, created_at) VALUES (:id, 'cus_1', "
                    ":id, :status, 'subscription_cycle', 'SEK', :at, :at, 10320, 2580, "
                    "12900, :paid, :credit, 0, 0, true, '25', 'VAT', :at)"
                ),
                {"id": invoice, "status": status, "credit": credit, "paid": paid, "at": at},
            )
        for invoice, amount in (("in_credit", 4241), ("in_cash", 12900)):
            await connection.execute(
                text(
                    "INSERT INTO payment_attempts (id, invoice_id, customer_id, attempt_number, "
                    "idempotency_key, amount, currency, payment_method, status, created_at, "
                    "lease_until) VALUES (:id, :invoice, 'cus_1', 1, :key, :amount, 'SEK', "
                    "'pm_card_visa', 'succeeded', :at, :at)"
                ),
                {
                    "id": f"pa_{invoice}",
                    "invoice": invoice,
                    "key": f"{invoice}:attempt:1",
                    "amount": amount,
                    "at": at,
                },
            )
    await upgrade(empty)
    async with empty.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT id, amount_paid, credit_returned, metadata FROM invoices ORDER BY id")
            )
        ).all()
    found = {row[0]: (row[1], row[2]) for row in rows}
    assert found == {"in_cash": (12900, 0), "in_credit": (4241, 0), "in_void": (0, 353)}
    assert all(row[3] in ({}, "{}") for row in rows)


async def test_the_migrated_schema_equals_the_models(empty: Database) -> None:
    await upgrade(empty)

    def differences(connection: Connection) -> list[object]:
        # Types are compared on PostgreSQL only: SQLite's INTEGER is already 64-bit, so the
        # migrations leave it where the models say BIGINT.
        compare_type = connection.dialect.name == "postgresql"
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        return list(compare_metadata(context, metadata))

    async with empty.engine.connect() as connection:
        found = await connection.run_sync(differences)
    assert found == []
