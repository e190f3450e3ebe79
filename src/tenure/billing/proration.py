"""Proration: the unused part of a period, exactly. Pure.

By whole days (default): ``(end date - change date) / (end date - start date)`` with dates taken
in UTC, so a change at any time on the 10th counts the 10th as used. By seconds when the
product opts in. Each prorated line is rounded half-up to the minor unit on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from tenure.kernel.clock import ensure_utc
from tenure.kernel.money import round_half_up


class ProrationMode(StrEnum):
    DAYS = "days"
    SECONDS = "seconds"


def unused_fraction(
    start: datetime, end: datetime, at: datetime, mode: ProrationMode = ProrationMode.DAYS
) -> Fraction:
    """The share of ``[start, end)`` still to come at ``at``, clamped to [0, 1]."""
    start, end, at = ensure_utc(start), ensure_utc(end), ensure_utc(at)
    if mode is ProrationMode.SECONDS:
        unit = timedelta(microseconds=1)
        total, unused = (end - start) // unit, (end - at) // unit
    else:
        total, unused = (end.date() - start.date()).days, (end.date() - at.date()).days
    if total <= 0:
        return Fraction(0)
    return min(max(Fraction(unused, total), Fraction(0)), Fraction(1))


def prorate(amount: int, fraction: Fraction) -> int:
    return round_half_up(Fraction(amount) * fraction)
