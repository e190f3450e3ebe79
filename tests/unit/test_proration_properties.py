"""Proration properties: a chain of immediate changes bills exactly the time-weighted price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tenure.billing.plan_change import ChangeType, PlanTerms, Timing, classify, quote
from tenure.billing.proration import ProrationMode, prorate, unused_fraction
from tenure.kernel.calendar import Interval

START = datetime(2025, 1, 31, 10, tzinfo=UTC)
END = datetime(2025, 2, 28, 10, tzinfo=UTC)  # 28 days


def _terms(price: int) -> PlanTerms:
    return PlanTerms(f"plan_{price}", "Plan", Interval.MONTH, 1, price)


@settings(max_examples=300, deadline=None)
@given(
    first=st.integers(1, 500_000),
    changes=st.lists(
        st.tuples(st.integers(0, 27), st.integers(1, 500_000)), min_size=1, max_size=6
    ),
)
def test_chained_changes_bill_the_time_weighted_price(
    first: int, changes: list[tuple[int, int]]
) -> None:
    days = sorted({day for day, _ in changes})
    prices = [price for _, price in changes][: len(days)]
    billed, lines, current = first, 0, first
    for day, price in zip(days, prices, strict=True):
        at = START + timedelta(days=day, hours=3)
        q = quote(
            old=_terms(current), new=_terms(price), period=(START, END), at=at, timing=Timing.NOW
        )
        billed += sum(line.amount for line in q.lines)
        lines += len(q.lines)
        assert q.new_period is None  # same interval: the period never moves
        current = price
    # Expected: each price for the days it was held (whole UTC days).
    edges = [0, *days, 28]
    held = [first, *prices]
    expected = sum(
        Fraction(p * (b - a), 28) for p, a, b in zip(held, edges[:-1], edges[1:], strict=True)
    )
    assert abs(billed - expected) <= Fraction(lines, 2)


@given(st.integers(-(10**9), 10**9), st.fractions(min_value=0, max_value=1))
def test_prorate_rounds_to_the_nearest_minor_unit(amount: int, fraction: Fraction) -> None:
    assert abs(prorate(amount, fraction) - amount * fraction) <= Fraction(1, 2)


def test_unused_fraction_by_days_and_by_seconds() -> None:
    at = datetime(2025, 2, 10, 23, 59, tzinfo=UTC)
    assert unused_fraction(START, END, at) == Fraction(18, 28)  # Feb 10 counts as used
    by_seconds = unused_fraction(START, END, at, ProrationMode.SECONDS)
    assert by_seconds == Fraction(
        (END - at) // timedelta(microseconds=1), (END - START) // timedelta(microseconds=1)
    )
    assert unused_fraction(START, END, END + timedelta(days=3)) == 0
    assert unused_fraction(START, END, START - timedelta(days=3)) == 1


def test_classification_and_default_timing() -> None:
    assert classify(_terms(100), _terms(200)) is ChangeType.UPGRADE
    assert classify(_terms(200), _terms(100)) is ChangeType.DOWNGRADE
    annual = PlanTerms("annual", "Annual", Interval.YEAR, 1, 1000)
    assert classify(_terms(100), annual) is ChangeType.INTERVAL
    down = quote(old=_terms(200), new=_terms(100), period=(START, END), at=START)
    assert (down.timing, down.effective_at, down.lines) == (Timing.PERIOD_END, END, [])
    interval = quote(old=_terms(100), new=annual, period=(START, END), at=START)
    assert interval.new_period == (START, datetime(2026, 1, 31, 10, tzinfo=UTC))
    assert [line.amount for line in interval.lines] == [-100, 1000]
