"""What falls due for a subscription, and when. Pure.

Each subscription keeps one ``next_action_at``: the earliest moment at which
:func:`due_action` will return something. The worker and test clocks find due work with one
indexed query on that column and ask :func:`due_action` what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from tenure.subscriptions.state import Status

TRIAL_NOTICE_LEAD: Final = timedelta(days=3)
INCOMPLETE_WINDOW: Final = timedelta(hours=23)
# Access is kept this long after a failed renewal; the dunning policy will make it configurable.
DEFAULT_GRACE: Final = timedelta(days=7)


class Due(StrEnum):
    TRIAL_NOTICE = "trial_notice"
    INCOMPLETE_EXPIRY = "incomplete_expiry"
    END_CANCELED = "end_canceled"
    GRACE_EXPIRY = "grace_expiry"
    RENEW = "renew"


@dataclass(frozen=True, slots=True)
class Timeline:
    status: Status
    current_period_end: datetime
    trial_end: datetime | None
    trial_notice_sent: bool
    cancel_at_period_end: bool
    incomplete_expires_at: datetime | None
    grace_ends_at: datetime | None


def _trial_notice_at(t: Timeline) -> datetime | None:
    if t.trial_end is None or t.trial_notice_sent or t.cancel_at_period_end:
        return None
    return t.trial_end - TRIAL_NOTICE_LEAD


def next_action_at(t: Timeline) -> datetime | None:
    if t.status is Status.INCOMPLETE:
        return t.incomplete_expires_at
    if t.status is Status.TRIALING:
        notice = _trial_notice_at(t)
        return min(notice, t.current_period_end) if notice else t.current_period_end
    if t.status is Status.ACTIVE:
        return t.current_period_end
    if t.status is Status.PAST_DUE:
        candidates = [t.grace_ends_at] if t.grace_ends_at else []
        if t.cancel_at_period_end or not candidates:
            candidates.append(t.current_period_end)
        return min(candidates)
    return None


def due_action(t: Timeline, now: datetime) -> Due | None:
    """What is due at ``now``, the most urgent first; ``None`` when nothing is."""
    if t.status is Status.INCOMPLETE:
        expires = t.incomplete_expires_at
        return Due.INCOMPLETE_EXPIRY if expires is not None and now >= expires else None
    if t.status in (Status.TRIALING, Status.ACTIVE):
        if now >= t.current_period_end:
            return Due.END_CANCELED if t.cancel_at_period_end else Due.RENEW
        notice = _trial_notice_at(t) if t.status is Status.TRIALING else None
        return Due.TRIAL_NOTICE if notice is not None and now >= notice else None
    if t.status is Status.PAST_DUE:
        if t.cancel_at_period_end and now >= t.current_period_end:
            return Due.END_CANCELED
        grace = t.grace_ends_at or t.current_period_end
        return Due.GRACE_EXPIRY if now >= grace else None
    return None
