"""Invoices: storing, reading and closing them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance
from tenure.billing.invoicing import InvoiceRows, amount_due
from tenure.billing.models import CreditNote, Invoice, InvoiceLine
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.events.record import event_row
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import NotFound

_invoices = table_of(Invoice)
_lines = table_of(InvoiceLine)


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"


async def insert_invoices(session: AsyncSession, drafts: Sequence[InvoiceRows]) -> None:
    if not drafts:
        return
    await session.execute(insert(_invoices), [draft.invoice for draft in drafts])
    lines = [line for draft in drafts for line in draft.lines]
    if lines:
        await session.execute(insert(_lines), lines)


async def load(
    session: AsyncSession, invoice_ids: Sequence[str], *, for_update: bool = False
) -> dict[str, dict[str, Any]]:
    statement = (
        select(_invoices).where(_invoices.c.id.in_(list(invoice_ids))).order_by(_invoices.c.id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    rows = (await session.execute(statement)).mappings().all()
    return {row["id"]: dict(row) for row in rows}


async def get(
    session: AsyncSession, invoice_id: str, *, for_update: bool = False
) -> dict[str, Any]:
    found = await load(session, [invoice_id], for_update=for_update)
    if invoice_id not in found:
        raise InvoiceNotFound(f"no invoice {invoice_id!r}")
    return found[invoice_id]


async def lines_of(
    session: AsyncSession, invoice_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {invoice_id: [] for invoice_id in invoice_ids}
    if not invoice_ids:
        return result
    rows = (
        await session.execute(
            select(_lines)
            .where(_lines.c.invoice_id.in_(list(invoice_ids)))
            .order_by(_lines.c.invoice_id, _lines.c.position)
        )
    ).mappings()
    for row in rows:
        result[row["invoice_id"]].append(dict(row))
    return result


async def open_invoice_ids(session: AsyncSession, subscription_ids: Sequence[str]) -> list[str]:
    if not subscription_ids:
        return []
    rows = await session.scalars(
        select(_invoices.c.id).where(
            _invoices.c.subscription_id.in_(list(subscription_ids)), _invoices.c.status == "open"
        )
    )
    return list(rows.all())


async def mark_paid(session: AsyncSession, paid: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    if paid:
        await session.execute(
            update(Invoice),
            [
                {
                    "id": inv["id"],
                    "status": "paid",
                    "amount_paid": inv["total"],
                    "paid_at": at,
                    "closed_at": at,
                }
                for inv, at in paid
            ],
        )


async def close(
    session: AsyncSession, invoice_ids: Sequence[str], *, status: str, at: datetime
) -> list[dict[str, Any]]:
    """Close open invoices as ``void`` or ``uncollectible``; returns the rows it closed."""
    if not invoice_ids:
        return []
    rows = await session.execute(
        select(_invoices).where(_invoices.c.id.in_(list(invoice_ids)), _invoices.c.status == "open")
    )
    closed = [dict(row) for row in rows.mappings()]
    if closed:
        await session.execute(
            update(_invoices)
            .where(_invoices.c.id.in_([row["id"] for row in closed]))
            .values(status=status, closed_at=at)
        )
    return closed


def summary(invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice as it appears in events."""
    return {
        "invoice": invoice["id"],
        "customer": invoice["customer_id"],
        "subscription": invoice["subscription_id"],
        "status": invoice["status"],
        "billing_reason": invoice["billing_reason"],
        "currency": invoice["currency"],
        "subtotal": invoice["subtotal"],
        "tax": invoice["tax"],
        "total": invoice["total"],
        "credit_applied": invoice["credit_applied"],
        "amount_due": amount_due(invoice) if invoice["status"] == "open" else 0,
        "period_start": rfc3339(invoice["period_start"]),
        "period_end": rfc3339(invoice["period_end"]),
    }


def invoice_event(
    type: str, invoice: dict[str, Any], *, at: datetime, sequence: int | None, **extra: Any
) -> dict[str, Any]:
    data = summary(invoice)
    data.update(extra)
    return event_row(
        type,
        created=at,
        data=data,
        customer_id=invoice["customer_id"],
        subscription_id=invoice["subscription_id"],
        sequence=sequence,
    )


async def credit_notes_of(session: AsyncSession, invoice_id: str) -> list[dict[str, Any]]:
    table = table_of(CreditNote)
    rows = await session.execute(
        select(table).where(table.c.invoice_id == invoice_id).order_by(table.c.id)
    )
    return [dict(row) for row in rows.mappings()]


async def close_for_subscriptions(
    session: AsyncSession, subscription_ids: Sequence[str], *, status: str, at: datetime
) -> list[str]:
    """Close the open invoices of ended subscriptions. A voided invoice gives back the credit it
    had taken from the balance; an uncollectible one keeps it (the period was partly served)."""
    closed = await close(
        session, await open_invoice_ids(session, subscription_ids), status=status, at=at
    )
    if status == "void":
        for invoice in closed:
            await balance.restore(session, invoice, at=at)
    return [invoice["id"] for invoice in closed]
