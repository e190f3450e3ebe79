"""Invoices and credit notes as typed records, their state machines, and the money rules.

One rule, one place. Every path that charges, pays, voids or refunds an invoice goes through
these functions, so what is owed and what may be returned are computed the same way everywhere:

- **owed** (:func:`amount_due`) = total - credit applied - cash paid, never negative, and zero
  once the invoice is closed;
- ``amount_paid`` is **cash captured** by the provider, never the credit;
- **refundable** (:func:`refundable`) = cash captured - cash refunded;
- the credit an invoice used goes back to the customer's balance when the invoice is voided, or
  when its cash has been refunded in full (``credit_returned`` records it, once).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Final

from tenure.kernel.machine import Machine
from tenure.kernel.money import round_half_up


class InvoiceStatus(StrEnum):
    OPEN = "open"  # money is owed (or being collected)
    PAID = "paid"  # credit and cash together covered the total
    VOID = "void"  # canceled before it was paid: nothing owed, its credit returned
    UNCOLLECTIBLE = "uncollectible"  # given up after dunning; the period was partly served


class InvoiceAction(StrEnum):
    PAY = "pay"
    VOID = "void"
    WRITE_OFF = "write_off"


_I, _IA = InvoiceStatus, InvoiceAction

INVOICE: Final = Machine(
    "invoice",
    InvoiceStatus,
    InvoiceAction,
    {
        (_I.OPEN, _IA.PAY): _I.PAID,
        (_I.OPEN, _IA.VOID): _I.VOID,
        (_I.OPEN, _IA.WRITE_OFF): _I.UNCOLLECTIBLE,
    },
    code="invoice_illegal_transition",
)


class BillingReason(StrEnum):
    """Why an invoice exists; its payment outcome goes to the handler registered for it."""

    SUBSCRIPTION_CREATE = "subscription_create"  # the first period, charged at subscribe
    SUBSCRIPTION_CYCLE = "subscription_cycle"  # a renewal
    TRIAL_END = "trial_end"  # the first paid period after a trial
    SUBSCRIPTION_UPDATE = "subscription_update"  # a plan change charged now
    # Credit for the unused part of a paid period on an immediate cancel (issue 12): a
    # negative total, settled at once, credited to the balance.
    SUBSCRIPTION_CANCEL = "subscription_cancel"
    # Credit for the days of an account hold (no access) on the invoice a recovery paid, when
    # the period restarts at the recovery date (issue 12); like the above.
    HOLD_CREDIT = "hold_credit"
    # More time bought for a prepaid subscription, from the end of the time it has.
    PREPAID_EXTENSION = "prepaid_extension"
    # An add-on attached mid-period: its price for the rest of the period.
    SUBSCRIPTION_ITEM = "subscription_item"
    # An add-on removed mid-period: the unused part of its price, credited to the balance.
    SUBSCRIPTION_ITEM_CREDIT = "subscription_item_credit"


# Invoices that bill a whole period (one per subscription period, by a unique index).
PERIOD_REASONS: Final = frozenset(
    {BillingReason.SUBSCRIPTION_CREATE, BillingReason.SUBSCRIPTION_CYCLE, BillingReason.TRIAL_END}
)


@dataclass(slots=True)
class LineRecord:
    id: str
    invoice_id: str
    position: int
    description: str
    plan_id: str | None
    period_start: datetime
    period_end: datetime
    quantity: int
    amount: int  # as priced: gross if tax-inclusive, else net
    net: int
    tax: int
    total: int


@dataclass(slots=True)
class InvoiceRecord:
    id: str
    customer_id: str
    subscription_id: str | None
    status: InvoiceStatus
    billing_reason: BillingReason
    currency: str
    period_start: datetime
    period_end: datetime
    subtotal: int
    tax: int
    total: int
    tax_inclusive: bool
    tax_rate: str
    tax_name: str
    created_at: datetime
    amount_paid: int = 0  # cash captured
    credit_applied: int = 0  # taken from the credit balance
    credited_to_balance: int = 0  # a negative total, banked as credit
    credit_returned: int = 0  # credit given back (void or full refund)
    amount_refunded: int = 0  # cash refunded
    credited_unused: int = 0  # unused time given back as balance credit (not refundable)
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    lines: list[LineRecord] = field(default_factory=list)  # not a column; loaded when needed


class InvoiceNotOpen(Exception):
    """A payment or void reached an invoice that is no longer open (a bug in the caller)."""


def amount_due(invoice: InvoiceRecord) -> int:
    """What is still owed: total - credit applied - cash paid; zero once closed."""
    if invoice.status is not InvoiceStatus.OPEN:
        return 0
    return max(invoice.total - invoice.credit_applied - invoice.amount_paid, 0)


def is_paid(invoice: InvoiceRecord) -> bool:
    return invoice.status is InvoiceStatus.PAID


def refundable(invoice: InvoiceRecord) -> int:
    """The cash a refund may still return: captured less refunded, less what was already given
    back as credit for unused time (never both a credit and a refund for the same time)."""
    return max(invoice.amount_paid - invoice.amount_refunded - invoice.credited_unused, 0)


def unused_share(
    invoice: InvoiceRecord, fraction: Fraction, *, skip_plans: frozenset[str] = frozenset()
) -> int:
    """What a paid invoice billed, as priced (gross if tax-inclusive, else net), for the
    ``fraction`` of its period not used: half-up; 0 unless paid and positive. Lines of
    ``skip_plans`` (an add-on removed earlier, already credited) are left out."""
    priced = sum(line.amount for line in invoice.lines if line.plan_id not in skip_plans)
    if invoice.status is not InvoiceStatus.PAID or priced <= 0 or invoice.total <= 0:
        return 0
    return round_half_up(Fraction(priced) * min(max(fraction, Fraction(0)), Fraction(1)))


def credit_unused(invoice: InvoiceRecord, amount: int) -> None:
    """``amount`` of a paid invoice's unused time went to the balance as credit (by a credit
    note invoice); it can no longer be refunded to the card."""
    if invoice.status is not InvoiceStatus.PAID or amount < 0:
        raise ValueError(f"cannot credit {amount} of unused time on {invoice.id}")
    invoice.credited_unused += amount


def refund_part(invoice: InvoiceRecord, unused_total: int) -> int:
    """How much of ``unused_total`` may go back to the card: never more than
    :func:`refundable` (only cash goes back to a card)."""
    return max(min(unused_total, refundable(invoice)), 0)


def _close(invoice: InvoiceRecord, action: InvoiceAction, at: datetime) -> None:
    invoice.status = INVOICE.next(invoice.status, action)
    invoice.closed_at = at
    if action is InvoiceAction.PAY:
        invoice.paid_at = at


def settle_if_covered(invoice: InvoiceRecord, *, at: datetime) -> bool:
    """An open invoice that credit (or a zero/negative total) covers is paid on the spot."""
    if invoice.status is InvoiceStatus.OPEN and amount_due(invoice) == 0:
        _close(invoice, InvoiceAction.PAY, at)
        return True
    return False


def take_cash(invoice: InvoiceRecord, cash: int, *, at: datetime) -> int:
    """Record ``cash`` captured against an open invoice; it is paid when nothing is owed.

    Returns the cash beyond what was owed (0 in every correct flow: attempts are made for
    :func:`amount_due`), which the caller must give back rather than keep.
    """
    if invoice.status is not InvoiceStatus.OPEN:
        raise InvoiceNotOpen(invoice.id)
    owed = amount_due(invoice)
    kept = min(cash, owed)
    invoice.amount_paid += cash
    settle_if_covered(invoice, at=at)
    return cash - kept


def take_late_cash(invoice: InvoiceRecord, cash: int) -> int:
    """Cash captured on an invoice that no longer owed it (closed while the charge was in
    flight). It counts as captured, and all of it must be refunded; returns that amount."""
    if invoice.status is InvoiceStatus.OPEN:
        raise ValueError(f"{invoice.id} is open: take_cash applies")
    invoice.amount_paid += cash
    return cash


def void(invoice: InvoiceRecord, *, at: datetime) -> int:
    """Cancel an open invoice; returns the credit to give back to the balance."""
    _close(invoice, InvoiceAction.VOID, at)
    return _return_credit(invoice)


def write_off(invoice: InvoiceRecord, *, at: datetime) -> None:
    """Dunning gave up: the invoice is uncollectible and keeps the credit it used."""
    _close(invoice, InvoiceAction.WRITE_OFF, at)


def record_refund(invoice: InvoiceRecord, amount: int) -> int:
    """Cash went back to the customer; returns the credit to give back to the balance (the
    credit the invoice used, once its cash has been refunded in full)."""
    if amount <= 0 or amount > refundable(invoice):
        raise ValueError(f"refund {amount} exceeds the refundable {refundable(invoice)}")
    invoice.amount_refunded += amount
    if invoice.status is InvoiceStatus.PAID and refundable(invoice) == 0:
        return _return_credit(invoice)
    return 0


def reverse_refund(invoice: InvoiceRecord, amount: int) -> None:
    """A refund was taken back (an app store reversed it after a dispute; a payment provider's
    refund failed after it was confirmed): that cash counts as captured again. The credit a
    full refund gave back is not taken back here."""
    if amount <= 0 or amount > invoice.amount_refunded:
        raise ValueError(f"cannot reverse {amount} of {invoice.amount_refunded} refunded")
    invoice.amount_refunded -= amount


def _return_credit(invoice: InvoiceRecord) -> int:
    owed_back = invoice.credit_applied - invoice.credit_returned
    invoice.credit_returned += owed_back
    return owed_back


# --- Credit notes -------------------------------------------------------------------------------


class CreditNoteStatus(StrEnum):
    PENDING = "pending"  # stored, the provider is being (or will be) asked
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVERSED = "reversed"  # the refund was taken back (an app store reversed it)


class CreditNoteAction(StrEnum):
    CONFIRM = "confirm"
    FAIL = "fail"
    REVERSE = "reverse"


CREDIT_NOTE: Final = Machine(
    "credit note",
    CreditNoteStatus,
    CreditNoteAction,
    {
        (CreditNoteStatus.PENDING, CreditNoteAction.CONFIRM): CreditNoteStatus.SUCCEEDED,
        (CreditNoteStatus.PENDING, CreditNoteAction.FAIL): CreditNoteStatus.FAILED,
        (CreditNoteStatus.SUCCEEDED, CreditNoteAction.REVERSE): CreditNoteStatus.REVERSED,
    },
    code="credit_note_illegal_transition",
)


@dataclass(slots=True)
class CreditNoteRecord:
    """A refund of (part of) a paid invoice's cash, with the provider's answer."""

    id: str
    invoice_id: str
    customer_id: str
    amount: int
    currency: str
    reason: str
    status: CreditNoteStatus
    idempotency_key: str
    charge_id: str
    lease_until: datetime
    created_at: datetime
    provider_refund_id: str | None = None
    failure_message: str | None = None
    completed_at: datetime | None = None
    credit_returned: int = 0  # credit this refund gave back to the balance

    def finish(
        self,
        *,
        succeeded: bool,
        refund_id: str | None,
        message: str | None,
        at: datetime,
    ) -> None:
        action = CreditNoteAction.CONFIRM if succeeded else CreditNoteAction.FAIL
        self.status = CREDIT_NOTE.next(self.status, action)
        self.provider_refund_id = refund_id
        self.failure_message = message
        self.completed_at = at
