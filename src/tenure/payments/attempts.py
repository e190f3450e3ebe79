"""Payment attempts: stored with their idempotency key before the provider is called."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.kernel.ids import new_id
from tenure.payments.models import PaymentAttempt
from tenure.payments.ports import ChargeRequest, ChargeResult, ChargeStatus

# How long a caller may take between storing an attempt and storing its outcome before the
# recovery sweep assumes it crashed and resolves the attempt itself.
LEASE: Final = timedelta(seconds=30)

_table = table_of(PaymentAttempt)


def idempotency_key(invoice_id: str, attempt_number: int) -> str:
    """Deterministic: a retry of the same attempt reuses it, a new attempt gets a new one."""
    return f"{invoice_id}:attempt:{attempt_number}"


def new_attempt(
    *,
    invoice_id: str,
    customer_id: str,
    test_clock_id: str | None,
    amount: int,
    currency: str,
    payment_method: str,
    attempt_number: int,
    created_at: datetime,
) -> dict[str, Any]:
    return {
        "id": new_id("pa"),
        "invoice_id": invoice_id,
        "customer_id": customer_id,
        "test_clock_id": test_clock_id,
        "attempt_number": attempt_number,
        "idempotency_key": idempotency_key(invoice_id, attempt_number),
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "status": "pending",
        "decline_code": None,
        "failure_message": None,
        "retryable": None,
        "provider_charge_id": None,
        "created_at": created_at,
        "completed_at": None,
        "lease_until": datetime.now(UTC) + LEASE,
    }


async def insert_attempts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(_table), list(rows))


async def next_attempt_number(session: AsyncSession, invoice_id: str) -> int:
    count = await session.scalar(
        select(func.count()).select_from(_table).where(_table.c.invoice_id == invoice_id)
    )
    return int(count or 0) + 1


def charge_request(attempt: dict[str, Any], description: str) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=attempt["idempotency_key"],
        customer_id=attempt["customer_id"],
        amount=attempt["amount"],
        currency=attempt["currency"],
        payment_method=attempt["payment_method"],
        description=description,
    )


async def load_pending(
    session: AsyncSession, attempt_ids: Sequence[str], *, for_update: bool
) -> list[dict[str, Any]]:
    statement = (
        select(_table)
        .where(_table.c.id.in_(list(attempt_ids)), _table.c.status == "pending")
        .order_by(_table.c.id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    return [dict(row) for row in (await session.execute(statement)).mappings().all()]


async def claim_stale(session: AsyncSession, *, wall_now: datetime, limit: int) -> list[str]:
    """Take over pending attempts whose caller let the lease run out (it probably crashed)."""
    statement = (
        select(_table.c.id)
        .where(_table.c.status == "pending", _table.c.lease_until < wall_now)
        .order_by(_table.c.lease_until)
        .limit(limit)
    )
    if is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    ids = list((await session.scalars(statement)).all())
    if ids:
        await session.execute(
            update(_table).where(_table.c.id.in_(ids)).values(lease_until=wall_now + LEASE)
        )
    return ids


async def complete(
    session: AsyncSession, results: Sequence[tuple[str, ChargeResult, datetime]]
) -> None:
    """Store outcomes; callers hold the attempts' row locks (see :func:`load_pending`)."""
    if not results:
        return
    await session.execute(
        update(PaymentAttempt),
        [
            {
                "id": attempt_id,
                "status": "succeeded" if result.status is ChargeStatus.SUCCEEDED else "failed",
                "decline_code": result.decline_code,
                "failure_message": result.message,
                "retryable": result.retryable,
                "provider_charge_id": result.charge_id,
                "completed_at": at,
            }
            for attempt_id, result, at in results
        ],
    )


async def load_pending_for_invoice(session: AsyncSession, invoice_id: str) -> list[str]:
    rows = await session.scalars(
        select(_table.c.id).where(_table.c.invoice_id == invoice_id, _table.c.status == "pending")
    )
    return list(rows.all())
