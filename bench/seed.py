"""Bulk seeding of due subscriptions with set-based SQL (COPY on PostgreSQL).

Rows are built for the column set of the *current* schema (read from Tenure's SQLAlchemy
tables): a column this module does not know is left to its default when it has one, and
refused loudly when it does not, so a schema change cannot silently skew the benchmark.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, insert

from tenure.catalog.model import Catalog
from tenure.customers.models import Customer
from tenure.db.base import table_of
from tenure.db.engine import Database
from tenure.db.touched import touch_customers
from tenure.flows.runtime import Runtime
from tenure.kernel.calendar import boundary
from tenure.subscriptions.models import Subscription
from tenure.workers.loop import sequence_events

PLAN: Final = "premium_individual_monthly"
MARKET: Final = "SE"
PAYMENT_METHOD: Final = "pm_card_visa"
CHUNK: Final = 50_000
_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class DuePlan:
    """``count`` active subscriptions whose current period ended a few days before ``now``."""

    count: int
    anchor: datetime
    period_end: datetime  # == next_action_at: everything is due at once
    next_period_end: datetime  # where one renewal moves them (after ``now``)


def plan_due(catalog: Catalog, count: int, now: datetime) -> DuePlan:
    plan = catalog.plans[PLAN]
    anchor = (now - timedelta(days=40)).replace(microsecond=0)
    end = boundary(anchor, plan.interval, plan.interval_count, 1)
    following = boundary(anchor, plan.interval, plan.interval_count, 2)
    if not end <= now < following:
        raise RuntimeError("seeded period does not straddle now")
    return DuePlan(count, anchor, end, following)


def fast_ids(prefix: str, count: int) -> Iterator[str]:
    """Unique, valid Tenure ids (48-bit time + 80 random-ish bits) without per-id syscalls."""
    millis = time.time_ns() // 1_000_000
    salt = int.from_bytes(os.urandom(6), "big") << 32
    for index in range(count):
        value = (millis << 80) | salt | index
        chars = []
        for _ in range(26):
            value, digit = divmod(value, 32)
            chars.append(_ALPHABET[digit])
        yield f"{prefix}_{''.join(reversed(chars))}"


def _row_builder(table: Table, known: Sequence[str]) -> list[str]:
    """The columns to write: every known one, and check the unknown ones can default."""
    missing = [
        column.name
        for column in table.columns
        if column.name not in known
        and not column.nullable
        and column.default is None
        and column.server_default is None
        and column.autoincrement is not True
    ]
    if missing:
        raise RuntimeError(
            f"bench/seed.py does not know required column(s) {missing} of {table.name}; "
            "update it for the new schema"
        )
    return [column.name for column in table.columns if column.name in known]


def customer_row(customer_id: str, external_id: str, created_at: datetime) -> dict[str, Any]:
    return {
        "id": customer_id,
        "external_id": external_id,
        "email": f"{external_id}@bench.example",
        "market": MARKET,
        "region": None,
        "test_clock_id": None,
        "created_at": created_at,
    }


def due_rows(
    catalog: Catalog, plan: DuePlan, start: int, count: int, run: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Customers and their subscriptions ``start .. start+count`` as column dicts."""
    price = catalog.plans[PLAN].prices[MARKET]
    product = catalog.plans[PLAN].product
    currency = catalog.markets[MARKET].currency
    customers: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    customer_ids = fast_ids("cus", count)
    subscription_ids = fast_ids("sub", count)
    for offset, (cus, sub) in enumerate(zip(customer_ids, subscription_ids, strict=True)):
        number = start + offset
        customers.append(customer_row(cus, f"bench-{run}-{number}", plan.anchor))
        subscriptions.append(
            {
                "id": sub,
                "customer_id": cus,
                "test_clock_id": None,
                "market": MARKET,
                "region": None,
                "plan_id": PLAN,
                "product_id": product,
                "price_amount": price,
                "currency": currency,
                "intro_price": None,
                "intro_periods_remaining": 0,
                "status": "active",
                "billing_anchor": plan.anchor,
                "current_period_start": plan.anchor,
                "current_period_end": plan.period_end,
                "trial_start": None,
                "trial_end": None,
                "trial_notice_sent": True,
                "canceled_at": None,
                "ended_at": None,
                "ended_reason": None,
                "incomplete_expires_at": None,
                "grace_ends_at": None,
                "payment_method": PAYMENT_METHOD,
                "next_action_at": plan.period_end,
                "event_seq": 0,
                "created_at": plan.anchor,
                "updated_at": plan.anchor,
            }
        )
    return customers, subscriptions


async def _write(database: Database, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = _row_builder(table, list(rows[0]))
    async with database.engine.begin() as connection:
        if database.is_postgres:
            raw = await connection.get_raw_connection()
            records = [tuple(_pg_value(row[name]) for name in columns) for row in rows]
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                table.name, records=records, columns=columns
            )
        else:
            await connection.execute(
                insert(table), [{name: row[name] for name in columns} for row in rows]
            )


def _pg_value(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


async def seed_due(
    database: Database, catalog: Catalog, count: int, now: datetime, *, run: str = "r"
) -> tuple[DuePlan, list[str]]:
    """Insert ``count`` customers with one due, active, card-paying subscription each.

    Returns the plan and the new customers' ids.
    """
    plan = plan_due(catalog, count, now)
    customers, subscriptions = table_of(Customer), table_of(Subscription)
    ids: list[str] = []
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        customer_rows, subscription_rows = due_rows(catalog, plan, start, size, run)
        await _write(database, customers, customer_rows)
        await _write(database, subscriptions, subscription_rows)
        ids += [row["id"] for row in customer_rows]
    return plan, ids


async def seed_customers(
    runtime: Runtime, count: int, tag: str, now: datetime
) -> tuple[list[str], list[str]]:
    """``count`` customers with nothing but Free (and their projection rows); returns their
    ids and external ids."""
    ids, external_ids = list(fast_ids("cus", count)), [f"bench-{tag}-{n}" for n in range(count)]
    table = table_of(Customer)
    for start in range(0, count, CHUNK):
        rows = [
            customer_row(customer_id, external_id, now)
            for customer_id, external_id in zip(
                ids[start : start + CHUNK], external_ids[start : start + CHUNK], strict=True
            )
        ]
        await _write(runtime.db, table, rows)
    await project(runtime, ids)
    return ids, external_ids


async def project(runtime: Runtime, customer_ids: Sequence[str], *, chunk: int = 5_000) -> None:
    """Give bulk-inserted customers what Tenure's write paths would have left behind.

    Each chunk is touched in a transaction, so Tenure's own pre-commit hook builds their
    entitlements projection rows (as ``subscribe`` would have); the events that records are
    then numbered, as the worker would have long before the renewal day.
    """
    for start in range(0, len(customer_ids), chunk):
        async with runtime.db.transaction() as session:
            touch_customers(session, customer_ids[start : start + chunk])
    await sequence_events(runtime)
