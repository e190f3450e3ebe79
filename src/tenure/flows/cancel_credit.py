"""What an immediate cancel gives back for the unused part of a paid period.

A catalog choice per product and market (``[lifecycle] cancel_now_credit``): ``none`` (the
default), ``credit`` (to the balance: an invoice with ``billing_reason: subscription_cancel``
and a negative total, settled at once, is the credit note) or ``refund`` (to the payment method
through the provider, as pending credit notes stored with the cancel and sent after commit;
what the card cannot take, the part paid by balance credit, is credited instead).

The unused part of each paid invoice of the current period (the period invoice, any
plan-change charge in it, and a prepaid subscription's extensions) is measured by the
product's proration rule (whole days by default, the day of the cancel counting as used) and
priced by :func:`billing.records.unused_share`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from tenure.billing import balance
from tenure.billing import service as invoices
from tenure.billing.invoicing import LineDraft, TaxRule, build_invoice
from tenure.billing.proration import ProrationMode, unused_fraction
from tenure.billing.records import (
    PERIOD_REASONS,
    BillingReason,
    CreditNoteRecord,
    InvoiceRecord,
    credit_unused,
    refund_part,
    unused_share,
)
from tenure.flows.opening import open_invoice
from tenure.flows.outcomes import Settlement
from tenure.flows.refunds import queue_refund
from tenure.flows.unit import UnitOfWork
from tenure.kernel.money import round_half_up
from tenure.subscriptions import items as item_rows
from tenure.subscriptions.items import ItemStatus
from tenure.subscriptions.record import Sub

NONE, CREDIT, REFUND = "none", "credit", "refund"
_SOURCES = (
    *sorted(PERIOD_REASONS),
    BillingReason.SUBSCRIPTION_UPDATE,
    BillingReason.PREPAID_EXTENSION,
    BillingReason.SUBSCRIPTION_ITEM,
)


@dataclass
class Given:
    """What the cancel gave back: credited to the balance, and refunds to send after commit."""

    credit_invoice: str | None = None
    credited: int = 0
    refunds: list[CreditNoteRecord] = field(default_factory=list)

    @property
    def refunded(self) -> int:
        return sum(note.amount for note in self.refunds)


async def give_back_unused(uow: UnitOfWork, sub: Sub, now: datetime, policy: str) -> Given:
    """Credit or refund the unused part of ``sub``'s paid period (call before the cancel moves
    its period); nothing for ``none`` or when nothing of the period was paid."""
    given = Given()
    if policy == NONE or now >= sub.current_period_end:
        return given
    catalog = uow.runtime.catalog
    product = catalog.products.get(sub.product_id)
    mode = ProrationMode(product.proration if product else "days")
    paid = await invoices.paid_for_period(
        uow.session,
        sub.id,
        since=sub.current_period_start,
        unused_after=now,
        reasons=[reason.value for reason in _SOURCES],
    )
    name = product.name if product else sub.product_id
    # An add-on removed in this period had its unused part credited then; an attached one is
    # credited with the rest (it ends with the subscription).
    gone = await item_rows.attached(uow.session, [sub.id], statuses=[ItemStatus.REMOVED.value])
    attached = await item_rows.attached(uow.session, [sub.id])
    skip = frozenset(
        {item.plan_id for item in gone.get(sub.id, [])}
        - {item.plan_id for item in attached.get(sub.id, [])}
    )
    drafts: list[tuple[InvoiceRecord, LineDraft]] = []
    for source in paid:
        fraction = unused_fraction(source.period_start, source.period_end, now, mode)
        share = unused_share(source, fraction, skip_plans=skip)
        if share > 0:
            description = f"Unused time on {name} after {now.date().isoformat()}"
            line = LineDraft(description, sub.plan_id, now, source.period_end, -share)
            drafts.append((source, line))
    if not drafts:
        return given
    tax = uow.runtime.tax_rule(sub.market, sub.region)
    credit_lines: list[LineDraft] = []
    credited: list[tuple[InvoiceRecord, int]] = []
    for source, line in drafts:
        unused_total = -_build(sub, [line], tax, now).total
        refund = refund_part(source, unused_total) if policy == REFUND else 0
        if refund > 0:
            note = await queue_refund(uow.session, source, refund, "canceled: unused time", at=now)
            if note is None:
                refund = 0
            else:
                given.refunds.append(note)
        if refund == 0:
            credit_lines.append(line)
            credited.append((source, unused_total))
        elif refund < unused_total:  # partly paid by credit: that part goes back as credit
            rest = round_half_up(Fraction(-line.amount * (unused_total - refund), unused_total))
            credit_lines.append(
                LineDraft(line.description, line.plan_id, now, line.period_end, -rest)
            )
            credited.append((source, unused_total - refund))
    for source, amount in credited:
        credit_unused(source, amount)
        uow.invoice_changed(source)
    if credit_lines:
        credit = _build(sub, credit_lines, tax, now)
        await balance.settle(uow.session, [credit], at=now)
        open_invoice(uow, credit, sub, payment_method=None, at=now)
        given.credit_invoice, given.credited = credit.id, credit.credited_to_balance
    return given


def _build(sub: Sub, lines: Sequence[LineDraft], tax: TaxRule, now: datetime) -> InvoiceRecord:
    return build_invoice(
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=sub.currency,
        billing_reason=BillingReason.SUBSCRIPTION_CANCEL,
        period_start=now,
        period_end=max(line.period_end for line in lines),
        lines=list(lines),
        tax=tax,
        created_at=now,
    )


class CancelCredit:
    """Outcomes of ``subscription_cancel`` invoices: none ever reaches a card (their total is
    negative, settled when issued), so there is nothing to react to."""

    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        return None

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        return None

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        return None

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        return None


def credit_hold(
    uow: UnitOfWork, sub: Sub, paid: InvoiceRecord, *, hold_from: datetime, at: datetime
) -> int:
    """A recovery on hold that restarts the period: the days of the paid invoice's period from
    the start of the hold (no access) go back to the balance by a ``hold_credit`` credit note,
    so the customer pays only for days with access. Returns the credit (0 when none)."""
    catalog = uow.runtime.catalog
    product = catalog.products.get(sub.product_id)
    mode = ProrationMode(product.proration if product else "days")
    share = unused_share(paid, unused_fraction(paid.period_start, paid.period_end, hold_from, mode))
    if share <= 0:
        return 0
    name = product.name if product else sub.product_id
    line = LineDraft(
        f"No access on {name} during the account hold from {hold_from.date().isoformat()}",
        sub.plan_id,
        hold_from,
        paid.period_end,
        -share,
    )
    tax = uow.runtime.tax_rule(sub.market, sub.region)
    credit = build_invoice(
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=sub.currency,
        billing_reason=BillingReason.HOLD_CREDIT,
        period_start=hold_from,
        period_end=paid.period_end,
        lines=[line],
        tax=tax,
        created_at=at,
    )
    credit.credited_to_balance = -credit.total  # banked when the unit flushes
    uow.to_bank.append(credit)
    open_invoice(uow, credit, sub, payment_method=None, at=at)
    credit_unused(paid, -credit.total)
    uow.invoice_changed(paid)
    return -credit.total
