"""Billing days: where a subscription's periods are anchored, and its first period. Pure.

A billing anchor is a moment whose boundaries (:func:`tenure.kernel.calendar.boundary`) are the
period starts. ``billing_anchor`` on subscribe is either a timestamp (the first full period
starts then) or a day of the month (the periods start at 00:00 UTC on that day, clamped in short
months); a customer's ``billing_day`` is the default day for their new subscriptions. The first
period runs from the subscribe moment to the first boundary after it and is billed by the
catalog's ``first_period`` rule: ``prorate`` (by whole days, as plan changes are) or ``free``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from tenure.kernel.calendar import Interval, add_interval, period_containing
from tenure.kernel.errors import InvalidRequest


class FirstPeriod(StrEnum):
    PRORATE = "prorate"  # the first (short) period costs its whole-day share of the price
    FREE = "free"  # nothing is charged until the billing day


@dataclass(frozen=True, slots=True)
class Anchored:
    """The billing anchor, and the full period that contains the subscribe moment."""

    anchor: datetime
    full_start: datetime
    end: datetime  # the first boundary after the subscribe moment: the first billing day

    def is_full(self, now: datetime) -> bool:
        return self.full_start == now


def day_anchor(day: int, now: datetime) -> datetime:
    """The latest 00:00 UTC on or before ``now`` whose day of the month is exactly ``day``, so
    that boundaries computed from it fall on that day (clamped only in months too short)."""
    if not 1 <= day <= 31:
        raise InvalidRequest(
            f"a billing day must be between 1 and 31, not {day}", code="invalid_billing_anchor"
        )
    year, month = now.year, now.month
    while True:
        if day <= calendar.monthrange(year, month)[1]:
            candidate = datetime(year, month, day, tzinfo=UTC)
            if candidate <= now:
                return candidate
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)


def anchored(anchor: datetime, interval: Interval, interval_count: int, now: datetime) -> Anchored:
    start, end = period_containing(anchor, interval, interval_count, now)
    return Anchored(anchor, start, end)


def check_timestamp_anchor(
    anchor: datetime, interval: Interval, interval_count: int, now: datetime
) -> None:
    """A timestamp anchor starts the first full period: after now, within one period."""
    latest = add_interval(now, interval, interval_count)
    if not now < anchor <= latest:
        raise InvalidRequest(
            "billing_anchor must be after now and at most one billing period later "
            f"({latest.isoformat().replace('+00:00', 'Z')})",
            code="invalid_billing_anchor",
        )
