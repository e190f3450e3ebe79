"""Customer credit balances: credits are kept, never lost, and used first on later invoices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing.invoicing import InvoiceRows
from tenure.billing.models import BalanceTransaction, CustomerBalance
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.kernel.ids import new_id

_balances = table_of(CustomerBalance)
_ledger = table_of(BalanceTransaction)


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


async def settle(session: AsyncSession, drafts: Sequence[InvoiceRows], *, at: datetime) -> None:
    """Use existing credit on new invoices, and bank the credit of negative ones.

    Mutates the drafts (``credit_applied`` / ``credited_to_balance``) before they are inserted.
    """
    customers = [draft.invoice["customer_id"] for draft in drafts]
    before = await balances(session, customers, for_update=True)
    current = dict(before)
    ledger: list[dict[str, Any]] = []
    currencies: dict[str, str] = {}
    for draft in drafts:
        invoice = draft.invoice
        customer, total = invoice["customer_id"], invoice["total"]
        currencies[customer] = invoice["currency"]
        held = current.get(customer, 0)
        if total < 0:
            movement, invoice["credited_to_balance"], reason = -total, -total, "invoice_credit"
        elif total > 0 and held > 0:
            movement = -min(held, total)
            invoice["credit_applied"], reason = -movement, "applied_to_invoice"
        else:
            continue
        current[customer] = held + movement
        ledger.append(
            {
                "id": new_id("btx"),
                "customer_id": customer,
                "amount": movement,
                "currency": invoice["currency"],
                "reason": reason,
                "invoice_id": invoice["id"],
                "balance_after": current[customer],
                "created_at": at,
            }
        )
    await _write(session, before, current, currencies, ledger)


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


async def restore(session: AsyncSession, invoice: dict[str, Any], *, at: datetime) -> None:
    """Give back credit that a voided invoice had taken from the balance."""
    applied = int(invoice.get("credit_applied") or 0)
    if applied <= 0:
        return
    customer = invoice["customer_id"]
    before = await balances(session, [customer], for_update=True)
    after = {customer: before.get(customer, 0) + applied}
    ledger = [
        {
            "id": new_id("btx"),
            "customer_id": customer,
            "amount": applied,
            "currency": invoice["currency"],
            "reason": "invoice_voided",
            "invoice_id": invoice["id"],
            "balance_after": after[customer],
            "created_at": at,
        }
    ]
    await _write(session, before, after, {customer: invoice["currency"]}, ledger)
