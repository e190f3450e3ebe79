"""Invoices and credit notes on the caller's session: storing, reading and writing them back.

Rows become :mod:`tenure.billing.records` here and nowhere else; every other module works on
the typed records. Never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing.models import CreditNote, Invoice, InvoiceLine
from tenure.billing.records import (
    PERIOD_REASONS,
    BillingReason,
    CreditNoteRecord,
    CreditNoteStatus,
    InvoiceRecord,
    InvoiceStatus,
    LineRecord,
    amount_due,
)
from tenure.db.base import table_of
from tenure.db.bulk import insert_rows, update_rows
from tenure.db.engine import is_postgres
from tenure.events.record import event_row
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import NotFound

_invoices = table_of(Invoice)
_lines = table_of(InvoiceLine)
_notes = table_of(CreditNote)

_INVOICE_COLUMNS = tuple(column.name for column in _invoices.columns)
_LINE_COLUMNS = tuple(column.name for column in _lines.columns)
_NOTE_COLUMNS = tuple(column.name for column in _notes.columns)


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"


class CreditNoteNotFound(NotFound):
    code = "credit_note_not_found"


# --- Row <-> record ----------------------------------------------------------------------------


def _invoice(row: RowMapping) -> InvoiceRecord:
    return InvoiceRecord(
        id=row["id"],
        customer_id=row["customer_id"],
        subscription_id=row["subscription_id"],
        status=InvoiceStatus(row["status"]),
        billing_reason=BillingReason(row["billing_reason"]),
        currency=row["currency"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        subtotal=row["subtotal"],
        tax=row["tax"],
        total=row["total"],
        tax_inclusive=row["tax_inclusive"],
        tax_rate=row["tax_rate"],
        tax_name=row["tax_name"],
        created_at=row["created_at"],
        amount_paid=row["amount_paid"],
        credit_applied=row["credit_applied"],
        credited_to_balance=row["credited_to_balance"],
        credit_returned=row["credit_returned"],
        amount_refunded=row["amount_refunded"],
        credited_unused=row["credited_unused"],
        paid_at=row["paid_at"],
        closed_at=row["closed_at"],
        metadata=dict(row["metadata"] or {}),
    )


def _invoice_values(invoice: InvoiceRecord) -> dict[str, Any]:
    values = {name: getattr(invoice, name) for name in _INVOICE_COLUMNS if name != "metadata"}
    values["status"] = invoice.status.value
    values["billing_reason"] = invoice.billing_reason.value
    values["metadata"] = dict(invoice.metadata)
    return values


def _line(row: RowMapping) -> LineRecord:
    return LineRecord(**{name: row[name] for name in _LINE_COLUMNS})


def _note(row: RowMapping) -> CreditNoteRecord:
    values = {name: row[name] for name in _NOTE_COLUMNS}
    values["status"] = CreditNoteStatus(values["status"])
    return CreditNoteRecord(**values)


def _note_values(note: CreditNoteRecord) -> dict[str, Any]:
    values = {name: getattr(note, name) for name in _NOTE_COLUMNS}
    values["status"] = note.status.value
    return values


# --- Invoices ----------------------------------------------------------------------------------


async def insert_invoices(session: AsyncSession, invoices: Sequence[InvoiceRecord]) -> None:
    if not invoices:
        return
    await insert_rows(session, _invoices, [_invoice_values(invoice) for invoice in invoices])
    lines = [
        {name: getattr(line, name) for name in _LINE_COLUMNS}
        for invoice in invoices
        for line in invoice.lines
    ]
    await insert_rows(session, _lines, lines)


# What changes on an invoice after it is created: status, money and metadata.
_MUTABLE: tuple[str, ...] = (
    "status",
    "amount_paid",
    "credit_applied",
    "credited_to_balance",
    "credit_returned",
    "amount_refunded",
    "credited_unused",
    "paid_at",
    "closed_at",
    "metadata",
)


async def save(session: AsyncSession, invoices: Iterable[InvoiceRecord]) -> None:
    """Write back the status, money fields and metadata of changed invoices (executemany)."""
    rows = []
    for invoice in invoices:
        values = _invoice_values(invoice)
        rows.append({"id": invoice.id, **{name: values[name] for name in _MUTABLE}})
    await update_rows(session, _invoices, "id", rows)


async def load(
    session: AsyncSession, invoice_ids: Sequence[str], *, for_update: bool = False
) -> dict[str, InvoiceRecord]:
    if not invoice_ids:
        return {}
    statement = (
        select(_invoices).where(_invoices.c.id.in_(list(invoice_ids))).order_by(_invoices.c.id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    rows = (await session.execute(statement)).mappings().all()
    return {row["id"]: _invoice(row) for row in rows}


async def unchanged(
    session: AsyncSession, invoice: InvoiceRecord, *, for_update: bool = False
) -> bool:
    """Whether the stored invoice still has the status and money of ``invoice`` (locked when
    asked): a flow that wrote it may go on from its own copy instead of reading it back."""
    statement = select(*(_invoices.c[name] for name in _MUTABLE)).where(
        _invoices.c.id == invoice.id
    )
    if for_update:
        statement = statement.with_for_update()
    row = (await session.execute(statement)).mappings().first()
    if row is None:
        return False
    values = _invoice_values(invoice)
    stored = {**row, "metadata": dict(row["metadata"] or {})}
    return all(stored[name] == values[name] for name in _MUTABLE)


async def get(session: AsyncSession, invoice_id: str, *, for_update: bool = False) -> InvoiceRecord:
    found = await load(session, [invoice_id], for_update=for_update)
    if invoice_id not in found:
        raise InvoiceNotFound(f"no invoice {invoice_id!r}")
    return found[invoice_id]


async def with_lines(session: AsyncSession, invoices: Sequence[InvoiceRecord]) -> None:
    """Load the lines of ``invoices`` into them (one query)."""
    found = await lines_of(session, [invoice.id for invoice in invoices])
    for invoice in invoices:
        invoice.lines = found[invoice.id]


async def lines_of(
    session: AsyncSession, invoice_ids: Sequence[str]
) -> dict[str, list[LineRecord]]:
    result: dict[str, list[LineRecord]] = {invoice_id: [] for invoice_id in invoice_ids}
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
        result[row["invoice_id"]].append(_line(row))
    return result


async def search(
    session: AsyncSession,
    *,
    customer_id: str | None = None,
    subscription_id: str | None = None,
    status: InvoiceStatus | None = None,
    starting_after: str | None = None,
    limit: int,
) -> list[InvoiceRecord]:
    """A page of invoices in id order, with their lines."""
    query = select(_invoices).order_by(_invoices.c.id).limit(limit)
    if customer_id is not None:
        query = query.where(_invoices.c.customer_id == customer_id)
    if subscription_id is not None:
        query = query.where(_invoices.c.subscription_id == subscription_id)
    if status is not None:
        query = query.where(_invoices.c.status == status.value)
    if starting_after is not None:
        query = query.where(_invoices.c.id > starting_after)
    found = [_invoice(row) for row in (await session.execute(query)).mappings().all()]
    await with_lines(session, found)
    return found


async def paid_for_period(
    session: AsyncSession,
    subscription_id: str,
    *,
    since: datetime,
    unused_after: datetime,
    reasons: Sequence[str],
) -> list[InvoiceRecord]:
    """The paid invoices of ``reasons`` that bill time of a subscription from ``since`` (its
    current period's start) still to come after ``unused_after``: the period invoice, plan-change
    charges in it, prepaid extensions. With their lines."""
    statement = (
        select(_invoices)
        .where(
            _invoices.c.subscription_id == subscription_id,
            _invoices.c.status == InvoiceStatus.PAID.value,
            _invoices.c.period_start >= since,
            _invoices.c.period_end > unused_after,
            _invoices.c.billing_reason.in_(list(reasons)),
        )
        .order_by(_invoices.c.period_start, _invoices.c.id)
    )
    found = [_invoice(row) for row in (await session.execute(statement)).mappings().all()]
    await with_lines(session, found)
    return found


async def paid_periods(session: AsyncSession, subscription_id: str) -> int:
    """How many periods of a subscription were paid for (tenure, for retention offers)."""
    count = await session.scalar(
        select(func.count()).where(
            _invoices.c.subscription_id == subscription_id,
            _invoices.c.status == InvoiceStatus.PAID.value,
            _invoices.c.billing_reason.in_([reason.value for reason in PERIOD_REASONS]),
            _invoices.c.total > 0,
        )
    )
    return int(count or 0)


async def paid_for_period_starting(
    session: AsyncSession, subscription_id: str, period_start: datetime
) -> InvoiceRecord | None:
    """The paid invoice that billed the period starting at ``period_start``, if any."""
    row = (
        (
            await session.execute(
                select(_invoices).where(
                    _invoices.c.subscription_id == subscription_id,
                    _invoices.c.period_start == period_start,
                    _invoices.c.status == InvoiceStatus.PAID.value,
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _invoice(row)


async def open_for_subscriptions(
    session: AsyncSession, subscription_ids: Sequence[str], *, for_update: bool = False
) -> list[InvoiceRecord]:
    if not subscription_ids:
        return []
    statement = (
        select(_invoices)
        .where(
            _invoices.c.subscription_id.in_(list(subscription_ids)),
            _invoices.c.status == InvoiceStatus.OPEN.value,
        )
        .order_by(_invoices.c.id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    return [_invoice(row) for row in (await session.execute(statement)).mappings().all()]


# --- Events ------------------------------------------------------------------------------------


def summary(invoice: InvoiceRecord) -> dict[str, Any]:
    """The invoice as it appears in events."""
    return {
        "invoice": invoice.id,
        "customer": invoice.customer_id,
        "subscription": invoice.subscription_id,
        "status": invoice.status.value,
        "billing_reason": invoice.billing_reason.value,
        "currency": invoice.currency,
        "subtotal": invoice.subtotal,
        "tax": invoice.tax,
        "total": invoice.total,
        "credit_applied": invoice.credit_applied,
        "amount_paid": invoice.amount_paid,
        "amount_due": amount_due(invoice),
        "period_start": rfc3339(invoice.period_start),
        "period_end": rfc3339(invoice.period_end),
        "metadata": dict(invoice.metadata),
    }


def invoice_event(
    type: str, invoice: InvoiceRecord, *, at: datetime, sequence: int | None, **extra: Any
) -> dict[str, Any]:
    data = summary(invoice)
    data.update(extra)
    return event_row(
        type,
        created=at,
        data=data,
        customer_id=invoice.customer_id,
        subscription_id=invoice.subscription_id,
        sequence=sequence,
    )


# --- Credit notes ------------------------------------------------------------------------------


async def insert_note(session: AsyncSession, note: CreditNoteRecord) -> None:
    await session.execute(insert(_notes).values(_note_values(note)))


async def save_notes(session: AsyncSession, notes: Iterable[CreditNoteRecord]) -> None:
    for note in notes:
        values = _note_values(note)
        del values["id"]
        await session.execute(update(_notes).where(_notes.c.id == note.id).values(values))


async def credit_notes_of(session: AsyncSession, invoice_id: str) -> list[CreditNoteRecord]:
    rows = await session.execute(
        select(_notes).where(_notes.c.invoice_id == invoice_id).order_by(_notes.c.id)
    )
    return [_note(row) for row in rows.mappings()]


async def get_note(
    session: AsyncSession, note_id: str, *, for_update: bool = False
) -> CreditNoteRecord:
    statement = select(_notes).where(_notes.c.id == note_id)
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    row = (await session.execute(statement)).mappings().first()
    if row is None:
        raise CreditNoteNotFound(f"no credit note {note_id!r}")
    return _note(row)


async def find_note(
    session: AsyncSession, *, keys: Sequence[str], refund_id: str | None
) -> CreditNoteRecord | None:
    """The credit note a provider's refund event is about: by one of its idempotency ``keys``
    (Tenure's own refunds carry theirs), else by the provider's refund id."""
    clauses: list[ColumnElement[bool]] = []
    if keys:
        clauses.append(_notes.c.idempotency_key.in_(list(keys)))
    if refund_id:
        clauses.append(_notes.c.provider_refund_id == refund_id)
    if not clauses:
        return None
    row = (
        (await session.execute(select(_notes).where(or_(*clauses)).order_by(_notes.c.id)))
        .mappings()
        .first()
    )
    return None if row is None else _note(row)


async def pending_note_for(session: AsyncSession, invoice_id: str) -> str | None:
    found: str | None = await session.scalar(
        select(_notes.c.id).where(
            _notes.c.invoice_id == invoice_id,
            _notes.c.status == CreditNoteStatus.PENDING.value,
        )
    )
    return found


async def claim_stale_notes(
    session: AsyncSession, *, wall_now: datetime, lease: timedelta, limit: int
) -> list[CreditNoteRecord]:
    """Take over pending credit notes whose caller let the lease run out (it probably crashed)."""
    statement = (
        select(_notes)
        .where(_notes.c.status == CreditNoteStatus.PENDING.value, _notes.c.lease_until < wall_now)
        .order_by(_notes.c.lease_until)
        .limit(limit)
    )
    if is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    notes = [_note(row) for row in (await session.execute(statement)).mappings()]
    if notes:
        await session.execute(
            update(_notes)
            .where(_notes.c.id.in_([note.id for note in notes]))
            .values(lease_until=wall_now + lease)
        )
    return notes


def by_id(invoices: Iterable[InvoiceRecord]) -> Mapping[str, InvoiceRecord]:
    return {invoice.id: invoice for invoice in invoices}
