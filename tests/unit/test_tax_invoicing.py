"""Tax per line (half-up, exact) and invoice totals built from lines."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenure.billing.invoicing import LineDraft, TaxRule, build_invoice
from tenure.billing.records import BillingReason, InvoiceRecord, InvoiceStatus, amount_due
from tenure.billing.tax import TaxedAmount, apply_tax, rate_percent_text
from tenure.kernel.ids import is_valid_id

# --------------------------------------------------------------------------- worked numbers


def test_se_25pct_inclusive_12900_tax_2580_net_10320() -> None:
    # 12900 * 0.25 / 1.25 = 2580 exactly
    assert apply_tax(12900, rate=Fraction(1, 4), inclusive=True) == TaxedAmount(
        net=10320, tax=2580, total=12900
    )


def test_gb_20pct_inclusive_1199_tax_200_net_999() -> None:
    # 1199 * 0.2 / 1.2 = 1199 / 6 = 199.833... -> 200
    assert Fraction(1199) * Fraction(1, 5) / Fraction(6, 5) == Fraction(1199, 6)
    assert apply_tax(1199, rate=Fraction(1, 5), inclusive=True) == TaxedAmount(
        net=999, tax=200, total=1199
    )


def test_de_19pct_inclusive_1099_tax_175_net_924() -> None:
    # 1099 * 19 / 119 = 175.47... -> 175
    assert apply_tax(1099, rate=Fraction(19, 100), inclusive=True) == TaxedAmount(
        net=924, tax=175, total=1099
    )


def test_us_7_25pct_exclusive_1199_tax_87_total_1286() -> None:
    # 1199 * 0.0725 = 86.9275 -> 87
    assert apply_tax(1199, rate=Fraction(29, 400), inclusive=False) == TaxedAmount(
        net=1199, tax=87, total=1286
    )


def test_jpy_10pct_inclusive_1080_tax_98_net_982() -> None:
    # 1080 * 0.1 / 1.1 = 98.18... -> 98 (yen, no minor unit)
    assert apply_tax(1080, rate=Fraction(1, 10), inclusive=True) == TaxedAmount(
        net=982, tax=98, total=1080
    )


@pytest.mark.parametrize("inclusive", [True, False])
def test_kwd_0pct_on_1500_no_tax(inclusive: bool) -> None:
    assert apply_tax(1500, rate=Fraction(0), inclusive=inclusive) == TaxedAmount(
        net=1500, tax=0, total=1500
    )


def test_exclusive_10pct_on_5_half_rounds_up_to_1() -> None:
    # 5 * 0.1 = 0.5 exactly -> half-up -> 1 (banker's rounding would give 0)
    assert apply_tax(5, rate=Fraction(1, 10), inclusive=False) == TaxedAmount(net=5, tax=1, total=6)


def test_exclusive_10pct_on_15_half_rounds_up_to_2() -> None:
    # 15 * 0.1 = 1.5 -> 2 (banker's also 2); 25 * 0.1 = 2.5 -> 3 (banker's would give 2)
    assert apply_tax(15, rate=Fraction(1, 10), inclusive=False).tax == 2
    assert apply_tax(25, rate=Fraction(1, 10), inclusive=False).tax == 3


def test_inclusive_20pct_on_3_half_rounds_up_to_1() -> None:
    # 3 / 6 = 0.5 -> 1, net 2
    assert apply_tax(3, rate=Fraction(1, 5), inclusive=True) == TaxedAmount(net=2, tax=1, total=3)


def test_zero_amount_has_zero_tax() -> None:
    assert apply_tax(0, rate=Fraction(1, 4), inclusive=True) == TaxedAmount(0, 0, 0)
    assert apply_tax(0, rate=Fraction(29, 400), inclusive=False) == TaxedAmount(0, 0, 0)


# --------------------------------------------------------------------------- properties

_AMOUNT = st.integers(min_value=0, max_value=10**9)
# Rates from 0% to 100% in hundredths of a percent (covers 7.25 %, 19 %, 25 %...).
_RATE = st.integers(min_value=0, max_value=10_000).map(lambda bp: Fraction(bp, 10_000))


@settings(max_examples=200, deadline=None)
@given(amount=_AMOUNT, rate=_RATE)
def test_inclusive_net_plus_tax_is_amount_and_tax_within_bounds(
    amount: int, rate: Fraction
) -> None:
    taxed = apply_tax(amount, rate=rate, inclusive=True)
    assert taxed.total == amount
    assert taxed.net + taxed.tax == amount
    assert 0 <= taxed.tax <= amount
    # Exact: tax is the half-up rounding of amount * rate / (1 + rate).
    exact = Fraction(amount) * rate / (1 + rate)
    assert abs(taxed.tax - exact) <= Fraction(1, 2)


@settings(max_examples=200, deadline=None)
@given(amount=_AMOUNT, rate=_RATE)
def test_exclusive_total_is_amount_plus_tax_and_net_is_amount(amount: int, rate: Fraction) -> None:
    taxed = apply_tax(amount, rate=rate, inclusive=False)
    assert taxed.net == amount
    assert taxed.total == amount + taxed.tax
    assert taxed.tax >= 0
    assert abs(taxed.tax - Fraction(amount) * rate) <= Fraction(1, 2)


@settings(max_examples=200, deadline=None)
@given(amount=_AMOUNT, rate=_RATE, inclusive=st.booleans())
def test_tax_never_negative_for_non_negative_amounts(
    amount: int, rate: Fraction, inclusive: bool
) -> None:
    taxed = apply_tax(amount, rate=rate, inclusive=inclusive)
    assert taxed.tax >= 0
    assert taxed.net >= 0


# --------------------------------------------------------------------------- rate text


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Fraction(1, 4), "25"),
        (Fraction(29, 400), "7.25"),
        (Fraction(0), "0"),
        (Fraction(1, 5), "20"),
        (Fraction(19, 100), "19"),
        (Fraction(1, 10), "10"),
        (Fraction(1, 1000), "0.1"),
        (Fraction(1), "100"),
    ],
)
def test_rate_percent_text_exact(rate: Fraction, text: str) -> None:
    assert rate_percent_text(rate) == text


# --------------------------------------------------------------------------- build_invoice

P_START = datetime(2025, 3, 1, tzinfo=UTC)
P_END = datetime(2025, 4, 1, tzinfo=UTC)
CREATED = datetime(2025, 3, 1, 0, 0, 5, tzinfo=UTC)
VAT_SE = TaxRule(inclusive=True, rate=Fraction(1, 4), name="Moms")
SALES_US = TaxRule(inclusive=False, rate=Fraction(29, 400), name="Sales tax")


def _line(amount: int, quantity: int = 1, description: str = "Pro (monthly)") -> LineDraft:
    return LineDraft(
        description=description,
        plan_id="pro_monthly",
        period_start=P_START,
        period_end=P_END,
        amount=amount,
        quantity=quantity,
    )


def _invoice(lines: list[LineDraft], tax: TaxRule) -> InvoiceRecord:
    return build_invoice(
        customer_id="cus_X",
        subscription_id="sub_Y",
        currency="SEK",
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=P_START,
        period_end=P_END,
        lines=lines,
        tax=tax,
        created_at=CREATED,
    )


def test_invoice_totals_are_sums_of_line_net_tax_total_se_12900_plus_4900() -> None:
    rows = build_invoice(
        customer_id="cus_X",
        subscription_id="sub_Y",
        currency="SEK",
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=P_START,
        period_end=P_END,
        lines=[_line(12900), _line(4900, description="Seat add-on")],
        tax=VAT_SE,
        created_at=CREATED,
    )
    inv, lines = rows, rows.lines
    # 12900 -> tax 2580 net 10320; 4900 -> tax 980 net 3920
    assert [(ln.net, ln.tax, ln.total) for ln in lines] == [
        (10320, 2580, 12900),
        (3920, 980, 4900),
    ]
    assert inv.subtotal == sum(ln.net for ln in lines) == 14240
    assert inv.tax == sum(ln.tax for ln in lines) == 3560
    assert inv.total == sum(ln.total for ln in lines) == 17800
    assert inv.subtotal + inv.tax == inv.total


def test_invoice_rounds_each_line_separately_us_exclusive() -> None:
    # Three 5-cent lines: 5 * 0.0725 = 0.3625 -> 0 each, so tax 0. Rounding the 15-cent sum
    # once would give 15 * 0.0725 = 1.0875 -> 1: the per-line rule is what is implemented.
    rows = build_invoice(
        customer_id="cus_X",
        subscription_id=None,
        currency="USD",
        billing_reason="subscription_create",
        period_start=P_START,
        period_end=P_END,
        lines=[_line(5), _line(5), _line(5)],
        tax=SALES_US,
        created_at=CREATED,
    )
    assert [ln.tax for ln in rows.lines] == [0, 0, 0]
    assert rows.tax == 0
    assert rows.subtotal == 15
    assert rows.total == 15


def test_invoice_quantity_multiplies_amount_before_tax() -> None:
    # 3 seats x 1199 = 3597 exclusive 7.25 % -> 260.7825 -> 261; total 3858
    rows = build_invoice(
        customer_id="cus_X",
        subscription_id="sub_Y",
        currency="USD",
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=P_START,
        period_end=P_END,
        lines=[_line(1199, quantity=3)],
        tax=SALES_US,
        created_at=CREATED,
    )
    (line,) = rows.lines
    assert line.quantity == 3
    assert line.amount == 3597
    assert (line.net, line.tax, line.total) == (3597, 261, 3858)
    assert (rows.subtotal, rows.tax, rows.total) == (
        3597,
        261,
        3858,
    )


def test_invoice_and_line_ids_prefixed_distinct_and_linked() -> None:
    rows = build_invoice(
        customer_id="cus_X",
        subscription_id="sub_Y",
        currency="SEK",
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=P_START,
        period_end=P_END,
        lines=[_line(100), _line(200), _line(300)],
        tax=VAT_SE,
        created_at=CREATED,
    )
    invoice_id = rows.id
    assert invoice_id.startswith("in_")
    assert is_valid_id(invoice_id, "in")
    line_ids = [ln.id for ln in rows.lines]
    assert len(set(line_ids)) == 3
    assert all(is_valid_id(i, "il") for i in line_ids)
    assert invoice_id not in line_ids
    assert [ln.invoice_id for ln in rows.lines] == [invoice_id] * 3
    assert [ln.position for ln in rows.lines] == [0, 1, 2]


def test_two_invoices_get_distinct_ids() -> None:
    a = _invoice([_line(100)], VAT_SE)
    b = _invoice([_line(100)], VAT_SE)
    assert a.id != b.id


def test_invoice_status_defaults_to_open_and_header_fields() -> None:
    rows = build_invoice(
        customer_id="cus_X",
        subscription_id="sub_Y",
        currency="SEK",
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=P_START,
        period_end=P_END,
        lines=[_line(12900)],
        tax=VAT_SE,
        created_at=CREATED,
    )
    inv = rows
    assert inv.status is InvoiceStatus.OPEN
    assert inv.amount_paid == 0
    assert inv.paid_at is None and inv.closed_at is None
    assert inv.tax_inclusive is True
    assert inv.tax_rate == "25"
    assert inv.tax_name == "Moms"
    assert inv.customer_id == "cus_X" and inv.subscription_id == "sub_Y"
    assert inv.currency == "SEK"
    assert (inv.period_start, inv.period_end, inv.created_at) == (
        P_START,
        P_END,
        CREATED,
    )


def test_a_new_invoice_owes_its_total() -> None:
    inv = _invoice([_line(12900)], VAT_SE)
    assert amount_due(inv) == 12900
    assert (inv.credit_applied, inv.credited_to_balance, inv.credit_returned) == (0, 0, 0)


def test_invoice_exclusive_tax_rate_text_7_25() -> None:
    inv = _invoice([_line(1199)], SALES_US)
    assert inv.tax_rate == "7.25"
    assert inv.tax_inclusive is False
    assert (inv.subtotal, inv.tax, inv.total) == (1199, 87, 1286)


def test_empty_invoice_sums_to_zero() -> None:
    inv = _invoice([], VAT_SE)
    assert inv.lines == []
    header = inv
    assert (header.subtotal, header.tax, header.total) == (0, 0, 0)


_LINE = st.builds(
    _line,
    amount=st.integers(min_value=0, max_value=10**7),
    quantity=st.integers(min_value=1, max_value=20),
)


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(_LINE, max_size=6),
    tax=st.sampled_from([VAT_SE, SALES_US, TaxRule(True, Fraction(0), "None")]),
)
def test_invoice_totals_always_equal_line_sums(lines: list[LineDraft], tax: TaxRule) -> None:
    rows = build_invoice(
        customer_id="cus_X",
        subscription_id="sub_Y",
        currency="SEK",
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
        period_start=P_START,
        period_end=P_END,
        lines=lines,
        tax=tax,
        created_at=CREATED,
    )
    assert rows.subtotal == sum(ln.net for ln in rows.lines)
    assert rows.tax == sum(ln.tax for ln in rows.lines)
    assert rows.total == sum(ln.total for ln in rows.lines)
    assert [ln.amount for ln in rows.lines] == [d.amount * d.quantity for d in lines]
    assert len({ln.id for ln in rows.lines}) == len(lines)
