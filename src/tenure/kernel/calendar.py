"""Billing-period arithmetic with anchor clamping.

A subscription's periods are the boundaries ``anchor + k * interval`` for k = 0, 1, 2, ...
Each boundary is computed from the anchor, never from the previous boundary, so a monthly anchor
on the 31st gives Jan 31, Feb 28 (29 in leap years), Mar 31, Apr 30: the day is clamped to the
month's length for that one boundary and never drifts. The time of day is the anchor's.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from enum import StrEnum

from tenure.kernel.clock import ensure_utc


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def _add_months(anchor: datetime, months: int) -> datetime:
    total = anchor.year * 12 + (anchor.month - 1) + months
    year, month_index = divmod(total, 12)
    month = month_index + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def boundary(anchor: datetime, interval: Interval, interval_count: int, index: int) -> datetime:
    """The ``index``-th period boundary after ``anchor`` (index 0 is the anchor itself)."""
    if interval_count < 1:
        raise ValueError("interval_count must be at least 1")
    anchor = ensure_utc(anchor)
    steps = index * interval_count
    if interval is Interval.DAY:
        return anchor + timedelta(days=steps)
    if interval is Interval.WEEK:
        return anchor + timedelta(weeks=steps)
    if interval is Interval.MONTH:
        return _add_months(anchor, steps)
    return _add_months(anchor, 12 * steps)


def _approximate_index(anchor: datetime, interval: Interval, count: int, at: datetime) -> int:
    if interval is Interval.DAY:
        return (at - anchor).days // count
    if interval is Interval.WEEK:
        return (at - anchor).days // (7 * count)
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    if interval is Interval.YEAR:
        months //= 12
    return months // count


def period_index(anchor: datetime, interval: Interval, interval_count: int, at: datetime) -> int:
    """The k with ``boundary(k) <= at < boundary(k + 1)`` (negative before the anchor)."""
    if interval_count < 1:
        raise ValueError("interval_count must be at least 1")
    anchor, at = ensure_utc(anchor), ensure_utc(at)
    index = _approximate_index(anchor, interval, interval_count, at)
    while boundary(anchor, interval, interval_count, index) > at:
        index -= 1
    while boundary(anchor, interval, interval_count, index + 1) <= at:
        index += 1
    return index


def period_containing(
    anchor: datetime, interval: Interval, interval_count: int, at: datetime
) -> tuple[datetime, datetime]:
    """The half-open period ``[start, end)`` that contains ``at``."""
    index = period_index(anchor, interval, interval_count, at)
    return (
        boundary(anchor, interval, interval_count, index),
        boundary(anchor, interval, interval_count, index + 1),
    )


def add_interval(start: datetime, interval: Interval, interval_count: int) -> datetime:
    """One interval after ``start``, clamped (a trial of one month from Jan 31 ends Feb 28)."""
    return boundary(start, interval, interval_count, 1)
