"""What a plan change costs and when it applies. Pure: the preview and the change share it.

Default policy (overridable per (from, to) pair in the catalog):
- upgrade (same interval, higher price): now; credit the unused part of the old price, charge
  the same part of the new one; the period and the anchor stay.
- downgrade (same interval, lower price): at period end; nothing is billed now.
- interval change (month <-> year): now; a new period starts at the change (the anchor moves);
  the unused part of the old period is credited against the new plan's full price. With
  ``anchor = "keep"`` (a change policy) the billing day stays: the new plan is charged, by whole
  days, only up to its next boundary from the existing anchor (Kill Bill's billing cycle day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tenure.billing.invoicing import LineDraft
from tenure.billing.proration import ProrationMode, prorate, unused_fraction
from tenure.kernel.calendar import Interval, add_interval, period_containing


class ChangeType(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    INTERVAL = "interval_change"


class Timing(StrEnum):
    NOW = "now"
    PERIOD_END = "period_end"


@dataclass(frozen=True, slots=True)
class PlanTerms:
    plan_id: str
    name: str  # for invoice line descriptions
    interval: Interval
    interval_count: int
    price: int  # minor units, in the subscription's currency


@dataclass(frozen=True, slots=True)
class ChangeQuote:
    type: ChangeType
    timing: Timing
    effective_at: datetime
    lines: list[LineDraft]
    # Set when the change starts a new period (interval changes).
    new_period: tuple[datetime, datetime] | None


def classify(old: PlanTerms, new: PlanTerms) -> ChangeType:
    if (old.interval, old.interval_count) != (new.interval, new.interval_count):
        return ChangeType.INTERVAL
    # Same interval: price per day compares as price. An equal price counts as an upgrade:
    # it applies now and nets to zero.
    return ChangeType.DOWNGRADE if new.price < old.price else ChangeType.UPGRADE


def default_timing(change: ChangeType) -> Timing:
    return Timing.PERIOD_END if change is ChangeType.DOWNGRADE else Timing.NOW


def quote(
    *,
    old: PlanTerms,
    new: PlanTerms,
    period: tuple[datetime, datetime],
    at: datetime,
    timing: Timing | None = None,
    mode: ProrationMode = ProrationMode.DAYS,
    keep_anchor: datetime | None = None,
) -> ChangeQuote:
    """The change's effective time and the invoice lines due now (none when it waits).

    ``keep_anchor``: an interval change keeps this billing anchor; the new plan is charged for
    its unused share of the new-interval period (from that anchor) that contains ``at``."""
    change = classify(old, new)
    when = timing or default_timing(change)
    start, end = period
    if when is Timing.PERIOD_END:
        return ChangeQuote(change, when, end, [], None)
    unused = unused_fraction(start, end, at, mode)
    credit = LineDraft(
        f"Unused time on {old.name} after {at.date().isoformat()}",
        old.plan_id,
        at,
        end,
        -prorate(old.price, unused),
    )
    if change is ChangeType.INTERVAL and keep_anchor is not None:
        kept_start, kept_end = period_containing(keep_anchor, new.interval, new.interval_count, at)
        share = prorate(new.price, unused_fraction(kept_start, kept_end, at, mode))
        charge = LineDraft(
            f"{new.name} from {at.date().isoformat()} to {kept_end.date().isoformat()} "
            "(to the billing day)",
            new.plan_id,
            at,
            kept_end,
            share,
        )
        return ChangeQuote(change, when, at, [credit, charge], (at, kept_end))
    if change is ChangeType.INTERVAL:
        new_end = add_interval(at, new.interval, new.interval_count)
        charge = LineDraft(new.name, new.plan_id, at, new_end, new.price)
        return ChangeQuote(change, when, at, [credit, charge], (at, new_end))
    charge = LineDraft(
        f"Remaining time on {new.name} after {at.date().isoformat()}",
        new.plan_id,
        at,
        end,
        prorate(new.price, unused),
    )
    return ChangeQuote(change, when, at, [credit, charge], None)
