"""The money rules of one invoice (``billing.records``): owed, paid, refundable, credit back.

Worked examples for each rule, then a property: whatever sequence of partial payments, voids,
write-offs and refunds an invoice goes through, cash and credit never cover more than the
total (money beyond it is handed back), refunds never exceed captured cash, and credit goes
back to the balance at most once and never more than was applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenure.billing import balance
from tenure.billing.invoicing import LineDraft, TaxRule, build_invoice
from tenure.billing.records import (
    BillingReason,
    InvoiceNotOpen,
    InvoiceRecord,
    InvoiceStatus,
    amount_due,
    record_refund,
    refundable,
    settle_if_covered,
    take_cash,
    take_late_cash,
    void,
    write_off,
)
from tenure.kernel.machine import IllegalTransition

AT = datetime(2026, 1, 1, 10, tzinfo=UTC)
VAT = TaxRule(inclusive=True, rate=Fraction(1, 4), name="Moms")


def invoice(total: int, *, credit: int = 0) -> InvoiceRecord:
    line = LineDraft("Premium", "premium_individual_monthly", AT, AT, total)
    found = build_invoice(
        customer_id="cus_X",
        subscription_id="sub_X",
        currency="SEK",
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=AT,
        period_end=AT,
        lines=[line],
        tax=VAT,
        created_at=AT,
    )
    found.credit_applied, found.credited_to_balance = balance.split(found.total, credit)
    return found


def test_owed_is_total_less_credit_less_cash() -> None:
    inv = invoice(12900, credit=8659)
    assert inv.credit_applied == 8659
    assert amount_due(inv) == 4241
    assert take_cash(inv, 4241, at=AT) == 0
    assert (inv.status, inv.amount_paid, amount_due(inv)) == (InvoiceStatus.PAID, 4241, 0)
    assert inv.paid_at == inv.closed_at == AT


def test_amount_paid_is_cash_only_and_refundable_is_cash_less_refunds() -> None:
    inv = invoice(12900, credit=8659)
    take_cash(inv, 4241, at=AT)
    assert refundable(inv) == 4241
    assert record_refund(inv, 1000) == 0  # partial: the credit stays used
    assert refundable(inv) == 3241
    with pytest.raises(ValueError):
        record_refund(inv, 3242)
    assert record_refund(inv, 3241) == 8659  # the last of the cash: the credit goes back
    assert (inv.amount_refunded, inv.credit_returned, refundable(inv)) == (4241, 8659, 0)


def test_credit_covering_everything_pays_on_the_spot_and_has_no_cash() -> None:
    inv = invoice(12900, credit=20000)
    assert (inv.credit_applied, amount_due(inv)) == (12900, 0)
    assert settle_if_covered(inv, at=AT)
    assert (inv.status, inv.amount_paid, refundable(inv)) == (InvoiceStatus.PAID, 0, 0)


def test_a_negative_total_banks_credit_and_owes_nothing() -> None:
    inv = invoice(-8659, credit=100)
    assert (inv.credit_applied, inv.credited_to_balance, amount_due(inv)) == (0, 8659, 0)


def test_void_returns_the_credit_once_and_closes() -> None:
    inv = invoice(12900, credit=353)
    assert void(inv, at=AT) == 353
    assert (inv.status, amount_due(inv), inv.credit_returned) == (InvoiceStatus.VOID, 0, 353)
    with pytest.raises(IllegalTransition):
        void(inv, at=AT)
    with pytest.raises(InvoiceNotOpen):
        take_cash(inv, 100, at=AT)


def test_late_cash_on_a_closed_invoice_is_captured_and_all_refundable() -> None:
    inv = invoice(12900, credit=353)
    void(inv, at=AT)
    assert take_late_cash(inv, 12547) == 12547
    assert refundable(inv) == 12547
    # A void already gave the credit back: refunding the late cash returns no credit again.
    assert record_refund(inv, 12547) == 0
    assert inv.credit_returned == 353


def test_a_written_off_invoice_keeps_its_credit() -> None:
    inv = invoice(12900, credit=353)
    write_off(inv, at=AT)
    assert (inv.status, amount_due(inv), inv.credit_returned) == (
        InvoiceStatus.UNCOLLECTIBLE,
        0,
        0,
    )


def test_cash_beyond_what_is_owed_is_handed_back() -> None:
    inv = invoice(12900, credit=12547)
    assert take_cash(inv, 12900, at=AT) == 12547
    assert inv.status is InvoiceStatus.PAID


STEP = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 30000)),
    st.tuples(st.just("pay_due"), st.just(0)),
    st.tuples(st.just("void"), st.just(0)),
    st.tuples(st.just("write_off"), st.just(0)),
    st.tuples(st.just("late"), st.integers(1, 30000)),
    st.tuples(st.just("refund"), st.integers(1, 30000)),
)


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(-20000, 40000),
    held=st.integers(0, 50000),
    steps=st.lists(STEP, max_size=10),
)
def test_money_is_conserved_on_one_invoice(
    total: int, held: int, steps: list[tuple[str, int]]
) -> None:
    inv = invoice(total, credit=held)
    handed_back = 0  # cash beyond what was owed, refunded automatically
    credit_back = 0
    for action, amount in steps:
        is_open = inv.status is InvoiceStatus.OPEN
        if action == "pay" and is_open:
            handed_back += take_cash(inv, amount, at=AT)
        elif action == "pay_due" and is_open and amount_due(inv) > 0:
            assert take_cash(inv, amount_due(inv), at=AT) == 0
            assert inv.status is InvoiceStatus.PAID
        elif action == "void" and is_open:
            credit_back += void(inv, at=AT)
        elif action == "write_off" and is_open:
            write_off(inv, at=AT)
        elif action == "late" and not is_open:
            handed_back += take_late_cash(inv, amount)
        elif action == "refund" and 0 < amount <= refundable(inv):
            credit_back += record_refund(inv, amount)
        # What is kept never exceeds the total; credit and cash are never negative.
        kept_cash = inv.amount_paid - handed_back
        assert inv.credit_applied >= 0
        assert inv.credit_applied + kept_cash <= max(inv.total, 0)
        assert 0 <= inv.amount_refunded <= inv.amount_paid
        assert credit_back == inv.credit_returned <= inv.credit_applied
        assert amount_due(inv) == (
            max(inv.total - inv.credit_applied - inv.amount_paid, 0)
            if inv.status is InvoiceStatus.OPEN
            else 0
        )
        if inv.status is InvoiceStatus.PAID:
            assert inv.credit_applied + inv.amount_paid >= inv.total


def test_unused_share_is_the_priced_lines_times_the_unused_fraction_of_a_paid_invoice() -> None:
    from tenure.billing.records import refund_part, unused_share

    paid = invoice(12900)
    assert unused_share(paid, Fraction(21, 31)) == 0  # still open: nothing was paid
    take_cash(paid, 12900, at=AT)
    assert unused_share(paid, Fraction(21, 31)) == 8739  # 8738.71, half-up
    assert unused_share(paid, Fraction(0)) == 0
    assert unused_share(paid, Fraction(3, 2)) == 12900  # clamped to the whole period
    # Only cash goes back to a card, and never more than is left after refunds.
    assert refund_part(paid, 8739) == 8739
    record_refund(paid, 5000)
    assert refund_part(paid, 8739) == 7900
    by_credit = invoice(12900, credit=12900)
    settle_if_covered(by_credit, at=AT)
    assert (unused_share(by_credit, Fraction(21, 31)), refund_part(by_credit, 8739)) == (8739, 0)
    assert unused_share(invoice(-500, credit=0), Fraction(1, 2)) == 0
