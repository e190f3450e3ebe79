"""Customer credit balances: credits are kept, never lost, and used first on later invoices.

Every movement is a ledger row (``balance_transactions``); the balance is their sum, and a
check constraint keeps it from going negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing.models import BalanceTransaction, CustomerBalance
from tenure.billing.records import InvoiceRecord
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.kernel.ids import new_id

_balances = table_of(CustomerBalance)
_ledger = table_of(BalanceTransaction)


@dataclass(frozen=True, slots=True)
class CreditReturn:
    """Credit going back to a customer's balance (a voided or fully refunded invoice)."""

    customer_id: str
    currency: str
    amount: int
    invoice_id: str
    reason: str  # invoice_voided | invoice_refunded


def split(total: int, held: int) -> tuple[int, int]:
    """How an invoice of ``total`` meets a balance of ``held``: (credit applied, credit banked).

    A positive total takes what it can from the balance; a negative one banks its credit.
    """
    if total < 0:
        return 0, -total
    return min(max(held, 0), total), 0


async def balances(
    session: AsyncSession, customer_ids: Sequence[str], *, for_update: bool = False
) -> dict[str, int]:
    if not customer_ids:
        return {}
    statement = (
        select(_balances.c.customer_id, _balances.c.amount)
        .where(_balances.c.customer_id.in_(sorted(set(customer_ids))))
        .order_by(_balances.c.customer_id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    return {row.customer_id: row.amount for row in await session.execute(statement)}


async def settle(session: AsyncSession, invoices: Sequence[InvoiceRecord], *, at: datetime) -> None:
    """Use existing credit on new invoices, and bank the credit of negative ones.

    Sets ``credit_applied`` / ``credited_to_balance`` on the invoices before they are stored.
    """
    if not invoices:
        return
    before = await balances(session, [invoice.customer_id for invoice in invoices], for_update=True)
    current = dict(before)
    ledger: list[dict[str, Any]] = []
    currencies: dict[str, str] = {}
    for invoice in invoices:
        customer, total = invoice.customer_id, invoice.total
        currencies[customer] = invoice.currency
        held = current.get(customer, 0)
        applied, banked = split(total, held)
        invoice.credit_applied, invoice.credited_to_balance = applied, banked
        if banked:
            movement, reason = banked, "invoice_credit"
        elif applied:
            movement, reason = -applied, "applied_to_invoice"
        else:
            continue
        current[customer] = held + movement
        ledger.append(_entry(customer, invoice.currency, movement, reason, invoice.id, current, at))
    await _write(session, before, current, currencies, ledger)


async def give_back(
    session: AsyncSession, returns: Sequence[CreditReturn], *, at: datetime
) -> None:
    """Put credit back on the balances it came from."""
    returns = [item for item in returns if item.amount > 0]
    if not returns:
        return
    before = await balances(session, [item.customer_id for item in returns], for_update=True)
    current = dict(before)
    ledger = []
    currencies: dict[str, str] = {}
    for item in returns:
        current[item.customer_id] = current.get(item.customer_id, 0) + item.amount
        currencies[item.customer_id] = item.currency
        ledger.append(
            _entry(
                item.customer_id,
                item.currency,
                item.amount,
                item.reason,
                item.invoice_id,
                current,
                at,
            )
        )
    await _write(session, before, current, currencies, ledger)


def _entry(
    customer: str,
    currency: str,
    movement: int,
    reason: str,
    invoice_id: str,
    current: dict[str, int],
    at: datetime,
) -> dict[str, Any]:
    return {
        "id": new_id("btx"),
        "customer_id": customer,
        "amount": movement,
        "currency": currency,
        "reason": reason,
        "invoice_id": invoice_id,
        "balance_after": current[customer],
        "created_at": at,
    }


async def _write(
    session: AsyncSession,
    before: dict[str, int],
    after: dict[str, int],
    currencies: dict[str, str],
    ledger: list[dict[str, Any]],
) -> None:
    if not ledger:
        return
    await session.execute(insert(_ledger), ledger)
    new = [
        {"customer_id": c, "currency": currencies[c], "amount": amount}
        for c, amount in after.items()
        if c not in before
    ]
    if new:
        await session.execute(insert(_balances), new)
    changed = [
        {"customer_id": c, "amount": amount}
        for c, amount in after.items()
        if c in before and before[c] != amount
    ]
    if changed:
        await session.execute(update(CustomerBalance), changed)
