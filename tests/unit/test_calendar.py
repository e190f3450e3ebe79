"""Billing-period arithmetic: anchored boundaries, clamping, tiling, period lookup."""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenure.kernel.calendar import (
    Interval,
    add_interval,
    boundary,
    period_containing,
    period_index,
)

COUNTS = (1, 2, 3, 6, 12)
ONE_MICROSECOND = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def boundaries(anchor: datetime, interval: Interval, count: int, n: int) -> list[datetime]:
    return [boundary(anchor, interval, count, k) for k in range(n)]


def ten_year_boundaries(anchor: datetime, interval: Interval, count: int) -> list[datetime]:
    """Every boundary from the anchor up to and including the first one past ten years."""
    horizon = anchor.replace(year=anchor.year + 10, day=min(anchor.day, 28))
    result = [boundary(anchor, interval, count, 0)]
    while result[-1] <= horizon:
        result.append(boundary(anchor, interval, count, len(result)))
    return result


# --------------------------------------------------------------------------- documented examples


def test_monthly_anchor_on_31st_clamps_and_never_drifts() -> None:
    anchor = utc(2025, 1, 31, 10, 0)
    assert boundaries(anchor, Interval.MONTH, 1, 8) == [
        utc(2025, 1, 31, 10, 0),
        utc(2025, 2, 28, 10, 0),
        utc(2025, 3, 31, 10, 0),
        utc(2025, 4, 30, 10, 0),
        utc(2025, 5, 31, 10, 0),
        utc(2025, 6, 30, 10, 0),
        utc(2025, 7, 31, 10, 0),
        utc(2025, 8, 31, 10, 0),
    ]


def test_monthly_anchor_on_31st_in_leap_year_gives_feb_29() -> None:
    anchor = utc(2024, 1, 31, 10, 0)
    assert boundaries(anchor, Interval.MONTH, 1, 5) == [
        utc(2024, 1, 31, 10, 0),
        utc(2024, 2, 29, 10, 0),
        utc(2024, 3, 31, 10, 0),
        utc(2024, 4, 30, 10, 0),
        utc(2024, 5, 31, 10, 0),
    ]


def test_monthly_boundaries_cross_year_end() -> None:
    anchor = utc(2024, 11, 30, 23, 59, 59)
    assert boundaries(anchor, Interval.MONTH, 1, 5) == [
        utc(2024, 11, 30, 23, 59, 59),
        utc(2024, 12, 30, 23, 59, 59),
        utc(2025, 1, 30, 23, 59, 59),
        utc(2025, 2, 28, 23, 59, 59),
        utc(2025, 3, 30, 23, 59, 59),
    ]


def test_yearly_anchor_on_leap_day() -> None:
    anchor = utc(2024, 2, 29, 10, 0)
    assert boundaries(anchor, Interval.YEAR, 1, 5) == [
        utc(2024, 2, 29, 10, 0),
        utc(2025, 2, 28, 10, 0),
        utc(2026, 2, 28, 10, 0),
        utc(2027, 2, 28, 10, 0),
        utc(2028, 2, 29, 10, 0),
    ]


def test_yearly_anchor_on_leap_day_every_two_years() -> None:
    anchor = utc(2024, 2, 29, 10, 0)
    assert boundaries(anchor, Interval.YEAR, 2, 4) == [
        utc(2024, 2, 29, 10, 0),
        utc(2026, 2, 28, 10, 0),
        utc(2028, 2, 29, 10, 0),
        utc(2030, 2, 28, 10, 0),
    ]


def test_yearly_skips_1900_style_non_leap_centuries() -> None:
    anchor = utc(2096, 2, 29)
    assert boundary(anchor, Interval.YEAR, 4, 1) == utc(2100, 2, 28)
    assert boundary(anchor, Interval.YEAR, 4, 2) == utc(2104, 2, 29)
    assert boundary(utc(1996, 2, 29), Interval.YEAR, 4, 1) == utc(2000, 2, 29)


def test_weekly_boundaries() -> None:
    anchor = utc(2024, 12, 20, 8, 30)  # a Friday
    result = boundaries(anchor, Interval.WEEK, 1, 5)
    assert result == [
        utc(2024, 12, 20, 8, 30),
        utc(2024, 12, 27, 8, 30),
        utc(2025, 1, 3, 8, 30),
        utc(2025, 1, 10, 8, 30),
        utc(2025, 1, 17, 8, 30),
    ]
    assert {b.weekday() for b in result} == {anchor.weekday()}


def test_biweekly_boundaries() -> None:
    anchor = utc(2024, 2, 22, 12, 0)
    assert boundaries(anchor, Interval.WEEK, 2, 3) == [
        utc(2024, 2, 22, 12, 0),
        utc(2024, 3, 7, 12, 0),
        utc(2024, 3, 21, 12, 0),
    ]


def test_daily_boundaries_cross_leap_day_and_year_end() -> None:
    assert boundaries(utc(2024, 2, 27, 6, 0), Interval.DAY, 1, 4) == [
        utc(2024, 2, 27, 6, 0),
        utc(2024, 2, 28, 6, 0),
        utc(2024, 2, 29, 6, 0),
        utc(2024, 3, 1, 6, 0),
    ]
    assert boundaries(utc(2024, 12, 30, 0, 0), Interval.DAY, 2, 3) == [
        utc(2024, 12, 30),
        utc(2025, 1, 1),
        utc(2025, 1, 3),
    ]


def test_quarterly_on_the_30th() -> None:
    anchor = utc(2024, 11, 30, 10, 0)
    assert boundaries(anchor, Interval.MONTH, 3, 6) == [
        utc(2024, 11, 30, 10, 0),
        utc(2025, 2, 28, 10, 0),
        utc(2025, 5, 30, 10, 0),
        utc(2025, 8, 30, 10, 0),
        utc(2025, 11, 30, 10, 0),
        utc(2026, 2, 28, 10, 0),
    ]


def test_quarterly_on_the_30th_leap_year() -> None:
    anchor = utc(2023, 8, 30, 10, 0)
    assert boundaries(anchor, Interval.MONTH, 3, 4) == [
        utc(2023, 8, 30, 10, 0),
        utc(2023, 11, 30, 10, 0),
        utc(2024, 2, 29, 10, 0),
        utc(2024, 5, 30, 10, 0),
    ]


def test_boundary_index_zero_is_the_anchor() -> None:
    anchor = utc(2025, 3, 15, 1, 2, 3, 456)
    for interval in Interval:
        for count in COUNTS:
            assert boundary(anchor, interval, count, 0) == anchor


def test_negative_boundaries_clamp_from_the_anchor() -> None:
    anchor = utc(2025, 3, 31, 10, 0)
    assert boundary(anchor, Interval.MONTH, 1, -1) == utc(2025, 2, 28, 10, 0)
    assert boundary(anchor, Interval.MONTH, 1, -2) == utc(2025, 1, 31, 10, 0)
    assert boundary(anchor, Interval.MONTH, 1, -13) == utc(2024, 2, 29, 10, 0)
    assert boundary(anchor, Interval.YEAR, 1, -1) == utc(2024, 3, 31, 10, 0)
    assert boundary(anchor, Interval.WEEK, 1, -1) == utc(2025, 3, 24, 10, 0)
    assert boundary(anchor, Interval.DAY, 1, -31) == utc(2025, 2, 28, 10, 0)


def test_boundary_with_count_equals_scaled_index() -> None:
    anchor = utc(2024, 1, 31, 7, 45)
    for interval in Interval:
        for count in COUNTS:
            for k in range(-5, 6):
                assert boundary(anchor, interval, count, k) == boundary(
                    anchor, interval, 1, k * count
                )


def test_twelve_months_equals_one_year() -> None:
    anchor = utc(2024, 2, 29, 10, 0)
    for k in range(-3, 10):
        assert boundary(anchor, Interval.MONTH, 12, k) == boundary(anchor, Interval.YEAR, 1, k)


def test_boundary_normalizes_offset_anchor_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    anchor = datetime(2025, 2, 1, 1, 0, tzinfo=plus_two)  # 2025-01-31T23:00Z
    first = boundary(anchor, Interval.MONTH, 1, 1)
    assert first == utc(2025, 2, 28, 23, 0)
    assert first.tzinfo is UTC


def test_boundaries_are_utc() -> None:
    anchor = utc(2025, 1, 31, 10, 0)
    for interval in Interval:
        assert boundary(anchor, interval, 1, 3).tzinfo is UTC


def test_naive_anchor_rejected() -> None:
    naive = datetime(2025, 1, 31, 10, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError):
        boundary(naive, Interval.MONTH, 1, 1)
    with pytest.raises(ValueError):
        period_containing(naive, Interval.MONTH, 1, utc(2025, 2, 1))
    with pytest.raises(ValueError):
        period_index(utc(2025, 1, 31), Interval.MONTH, 1, naive)


@pytest.mark.parametrize("count", [0, -1])
@pytest.mark.parametrize("interval", list(Interval))
def test_interval_count_below_one_rejected(interval: Interval, count: int) -> None:
    anchor = utc(2025, 1, 31, 10, 0)
    at = utc(2025, 6, 1)
    with pytest.raises(ValueError, match="interval_count"):
        boundary(anchor, interval, count, 1)
    with pytest.raises(ValueError, match="interval_count"):
        add_interval(anchor, interval, count)
    with pytest.raises(ValueError, match="interval_count"):
        period_index(anchor, interval, count, at)
    with pytest.raises(ValueError, match="interval_count"):
        period_containing(anchor, interval, count, at)


def test_interval_values() -> None:
    assert [i.value for i in Interval] == ["day", "week", "month", "year"]
    assert Interval("month") is Interval.MONTH


# --------------------------------------------------------------------------- add_interval


def test_add_interval_month_from_jan_31() -> None:
    assert add_interval(utc(2025, 1, 31, 10, 0), Interval.MONTH, 1) == utc(2025, 2, 28, 10, 0)
    assert add_interval(utc(2024, 1, 31, 10, 0), Interval.MONTH, 1) == utc(2024, 2, 29, 10, 0)


def test_add_interval_other_units() -> None:
    start = utc(2024, 2, 29, 9, 15)
    assert add_interval(start, Interval.DAY, 1) == utc(2024, 3, 1, 9, 15)
    assert add_interval(start, Interval.DAY, 14) == utc(2024, 3, 14, 9, 15)
    assert add_interval(start, Interval.WEEK, 1) == utc(2024, 3, 7, 9, 15)
    assert add_interval(start, Interval.YEAR, 1) == utc(2025, 2, 28, 9, 15)
    assert add_interval(start, Interval.YEAR, 4) == utc(2028, 2, 29, 9, 15)
    assert add_interval(utc(2025, 11, 30), Interval.MONTH, 3) == utc(2026, 2, 28)


def test_chaining_add_interval_drifts_but_boundaries_do_not() -> None:
    # Why boundaries come from the anchor: stepping from a clamped date loses the 31st.
    anchor = utc(2025, 1, 31, 10, 0)
    chained = add_interval(add_interval(anchor, Interval.MONTH, 1), Interval.MONTH, 1)
    assert chained == utc(2025, 3, 28, 10, 0)
    assert boundary(anchor, Interval.MONTH, 1, 2) == utc(2025, 3, 31, 10, 0)


# --------------------------------------------------------------------------- period lookup


def test_period_containing_is_half_open() -> None:
    anchor = utc(2025, 1, 31, 10, 0)
    feb = (utc(2025, 2, 28, 10, 0), utc(2025, 3, 31, 10, 0))
    jan = (utc(2025, 1, 31, 10, 0), utc(2025, 2, 28, 10, 0))
    assert period_containing(anchor, Interval.MONTH, 1, anchor) == jan
    assert period_containing(anchor, Interval.MONTH, 1, utc(2025, 2, 28, 9, 59, 59, 999999)) == jan
    assert period_containing(anchor, Interval.MONTH, 1, utc(2025, 2, 28, 10, 0)) == feb
    assert period_containing(anchor, Interval.MONTH, 1, utc(2025, 3, 15)) == feb
    assert period_containing(anchor, Interval.MONTH, 1, utc(2025, 3, 31, 9, 59)) == feb


def test_period_index_examples() -> None:
    anchor = utc(2025, 1, 31, 10, 0)
    assert period_index(anchor, Interval.MONTH, 1, anchor) == 0
    assert period_index(anchor, Interval.MONTH, 1, anchor - ONE_MICROSECOND) == -1
    assert period_index(anchor, Interval.MONTH, 1, utc(2025, 2, 28, 10, 0)) == 1
    assert period_index(anchor, Interval.MONTH, 1, utc(2025, 2, 28, 9, 0)) == 0
    assert period_index(anchor, Interval.MONTH, 1, utc(2025, 3, 1)) == 1
    assert period_index(anchor, Interval.MONTH, 1, utc(2025, 12, 31, 10, 0)) == 11
    assert period_index(anchor, Interval.YEAR, 1, utc(2030, 1, 31, 9, 0)) == 4
    assert period_index(anchor, Interval.WEEK, 1, utc(2025, 2, 7, 10, 0)) == 1
    assert period_index(anchor, Interval.DAY, 7, utc(2025, 2, 7, 9, 0)) == 0
    assert period_index(anchor, Interval.MONTH, 3, utc(2025, 4, 30, 10, 0)) == 1


def test_period_index_before_anchor_examples() -> None:
    anchor = utc(2025, 3, 31, 10, 0)
    assert period_index(anchor, Interval.MONTH, 1, utc(2025, 3, 1)) == -1
    assert period_containing(anchor, Interval.MONTH, 1, utc(2025, 3, 1)) == (
        utc(2025, 2, 28, 10, 0),
        utc(2025, 3, 31, 10, 0),
    )
    assert period_index(anchor, Interval.MONTH, 1, utc(2025, 2, 28, 9, 0)) == -2
    assert period_index(anchor, Interval.YEAR, 1, utc(2020, 1, 1)) == -6
    assert period_index(anchor, Interval.DAY, 1, anchor - timedelta(days=1)) == -1
    assert period_index(anchor, Interval.DAY, 1, anchor - timedelta(days=1, microseconds=1)) == -2


def test_period_lookup_accepts_offset_timestamps() -> None:
    anchor = utc(2025, 1, 31, 10, 0)
    plus_two = timezone(timedelta(hours=2))
    # 12:00+02:00 on Feb 28 is exactly the 10:00Z boundary.
    at = datetime(2025, 2, 28, 12, 0, tzinfo=plus_two)
    assert period_index(anchor, Interval.MONTH, 1, at) == 1
    assert period_index(anchor, Interval.MONTH, 1, at - ONE_MICROSECOND) == 0


# --------------------------------------------------------------------------- exhaustive sweep


def _check_boundary_invariants(
    anchor: datetime, interval: Interval, count: int, bounds: list[datetime]
) -> None:
    assert bounds[0] == anchor
    for start, end in itertools.pairwise(bounds):
        # Strictly increasing: no empty and no reversed period.
        assert start < end
        span = end - start
        if interval is Interval.DAY:
            assert span == timedelta(days=count)
        elif interval is Interval.WEEK:
            assert span == timedelta(weeks=count)
        elif interval is Interval.MONTH and count == 1:
            assert timedelta(days=28) <= span <= timedelta(days=31)
        elif interval is Interval.YEAR and count == 1:
            assert span in (timedelta(days=365), timedelta(days=366))
    for b in bounds:
        assert b.tzinfo is UTC
        assert b.time() == anchor.time()
        if interval in (Interval.MONTH, Interval.YEAR):
            assert b.day == min(anchor.day, days_in_month(b.year, b.month))
        if interval is Interval.YEAR:
            assert b.month == anchor.month
    if interval is Interval.MONTH:
        months = [b.year * 12 + b.month for b in bounds]
        assert all(m2 - m1 == count for m1, m2 in itertools.pairwise(months))


def _check_tiling(anchor: datetime, interval: Interval, count: int, bounds: list[datetime]) -> None:
    """Each period's first and last instants resolve to that period (so no gap, no overlap)."""
    _check_tiling_at(anchor, interval, count, bounds, range(len(bounds) - 1))


def _check_tiling_at(
    anchor: datetime,
    interval: Interval,
    count: int,
    bounds: list[datetime],
    indices: Iterable[int],
) -> None:
    for k in indices:
        start, end = bounds[k], bounds[k + 1]
        assert period_containing(anchor, interval, count, start) == (start, end)
        assert period_containing(anchor, interval, count, end - ONE_MICROSECOND) == (start, end)
        assert period_index(anchor, interval, count, start) == k
        assert period_index(anchor, interval, count, end - ONE_MICROSECOND) == k


@pytest.mark.parametrize("day", range(1, 32))
def test_every_anchor_day_every_interval_ten_years(day: int) -> None:
    # A leap year, in a month that has the day (January has 31).
    anchor = utc(2024, 1, day, 13, 37, 5, 250)
    for interval in Interval:
        for count in COUNTS:
            bounds = ten_year_boundaries(anchor, interval, count)
            _check_boundary_invariants(anchor, interval, count, bounds)
            if interval in (Interval.MONTH, Interval.YEAR):
                _check_tiling(anchor, interval, count, bounds)
            else:
                # Daily/weekly have thousands of periods: check a spread of them and the last.
                step = max(1, len(bounds) // 40)
                picks = sorted({*range(0, len(bounds) - 1, step), len(bounds) - 2})
                _check_tiling_at(anchor, interval, count, bounds, picks)


# --------------------------------------------------------------------------- property tests


@st.composite
def anchors_on_day(draw: st.DrawFn, day: int) -> datetime:
    year = draw(st.integers(min_value=1990, max_value=2040))
    months = [m for m in range(1, 13) if days_in_month(year, m) >= day]
    month = draw(st.sampled_from(months))
    return utc(
        year,
        month,
        day,
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 999_999)),
    )


intervals = st.sampled_from(list(Interval))
counts = st.sampled_from(COUNTS)


def _micros(delta: timedelta) -> int:
    return delta // ONE_MICROSECOND


@pytest.mark.parametrize("day", range(1, 32))
@settings(max_examples=12, deadline=None)
@given(data=st.data(), interval=intervals, count=counts)
def test_property_periods_tile_and_anchor_never_drifts(
    day: int, data: st.DataObject, interval: Interval, count: int
) -> None:
    anchor = data.draw(anchors_on_day(day), label="anchor")
    bounds = ten_year_boundaries(anchor, interval, count)
    _check_boundary_invariants(anchor, interval, count, bounds)

    # Any instant inside period k resolves to exactly period k.
    for _ in range(3):
        k = data.draw(st.integers(0, len(bounds) - 2), label="k")
        start, end = bounds[k], bounds[k + 1]
        offset = data.draw(st.integers(0, _micros(end - start) - 1), label="offset")
        at = start + timedelta(microseconds=offset)
        assert period_containing(anchor, interval, count, at) == (start, end)
        assert period_index(anchor, interval, count, at) == k

    # Both edges of a drawn period: inclusive start, exclusive end.
    k = data.draw(st.integers(0, len(bounds) - 2), label="edge_k")
    start, end = bounds[k], bounds[k + 1]
    assert period_containing(anchor, interval, count, start) == (start, end)
    assert period_containing(anchor, interval, count, end - ONE_MICROSECOND) == (start, end)
    assert period_index(anchor, interval, count, end) == k + 1


@settings(max_examples=150, deadline=None)
@given(
    day=st.integers(1, 31),
    data=st.data(),
    interval=intervals,
    count=counts,
    before=st.integers(min_value=1, max_value=_micros(timedelta(days=3653))),
)
def test_property_period_index_before_anchor_is_negative_and_consistent(
    day: int, data: st.DataObject, interval: Interval, count: int, before: int
) -> None:
    anchor = data.draw(anchors_on_day(day), label="anchor")
    at = anchor - timedelta(microseconds=before)
    k = period_index(anchor, interval, count, at)
    assert k < 0
    start = boundary(anchor, interval, count, k)
    end = boundary(anchor, interval, count, k + 1)
    assert start <= at < end
    assert period_containing(anchor, interval, count, at) == (start, end)
    # The period right before the anchor is -1 and ends at the anchor.
    assert period_index(anchor, interval, count, anchor - ONE_MICROSECOND) == -1
    assert boundary(anchor, interval, count, 0) == anchor
    # Negative boundaries obey the same clamping as positive ones.
    for b in (start, end):
        assert b.time() == anchor.time()
        if interval in (Interval.MONTH, Interval.YEAR):
            assert b.day == min(anchor.day, days_in_month(b.year, b.month))


@settings(max_examples=200, deadline=None)
@given(
    day=st.integers(1, 31),
    data=st.data(),
    interval=intervals,
    count=counts,
    later=st.integers(min_value=0, max_value=_micros(timedelta(days=3653))),
)
def test_property_period_index_is_monotonic(
    day: int, data: st.DataObject, interval: Interval, count: int, later: int
) -> None:
    anchor = data.draw(anchors_on_day(day), label="anchor")
    shift = data.draw(st.integers(-_micros(timedelta(days=3653)), 0), label="shift")
    t1 = anchor + timedelta(microseconds=shift)
    t2 = t1 + timedelta(microseconds=later)
    k1 = period_index(anchor, interval, count, t1)
    k2 = period_index(anchor, interval, count, t2)
    assert k1 <= k2
    assert (k1 >= 0) == (t1 >= anchor)


@settings(max_examples=200, deadline=None)
@given(day=st.integers(1, 31), data=st.data(), count=counts)
def test_property_add_interval_month_clamps(day: int, data: st.DataObject, count: int) -> None:
    start = data.draw(anchors_on_day(day), label="start")
    result = add_interval(start, Interval.MONTH, count)
    months = (result.year * 12 + result.month) - (start.year * 12 + start.month)
    assert months == count
    assert result.day == min(start.day, days_in_month(result.year, result.month))
    assert result.time() == start.time()
