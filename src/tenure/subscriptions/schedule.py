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
# A prepaid subscription is told this long before its time runs out (subscription.expiring_soon).
EXPIRY_NOTICE_LEAD: Final = timedelta(days=7)
INCOMPLETE_WINDOW: Final = timedelta(hours=23)
# Access is kept this long after a failed renewal unless the dunning policy says otherwise
# (tenure.dunning.policy, per market and product).
DEFAULT_GRACE: Final = timedelta(days=7)


class Due(StrEnum):
    TRIAL_NOTICE = "trial_notice"
    INCOMPLETE_EXPIRY = "incomplete_expiry"
    END_CANCELED = "end_canceled"
    GRACE_EXPIRY = "grace_expiry"  # past_due -> on_hold
    DUNNING_EXHAUSTED = "dunning_exhausted"  # the hold is over: expire
    RETRY_PAYMENT = "retry_payment"  # the next step of the retry ladder
    RENEW = "renew"
    START = "start"  # a scheduled subscription's start time has come
    TRIAL_EXPIRY = "trial_expiry"  # a trial ends with no payment method: expire, charge nothing
    EXPIRY_NOTICE = "expiry_notice"  # a prepaid subscription ends in a week
    PREPAID_END = "prepaid_end"  # a prepaid subscription's time is up: expire, charge nothing
    # Retention: a scheduled pause starts at the period end instead of a renewal; a running
    # (web) pause sends its notice, then resumes and bills from that day.
    START_PAUSE = "start_pause"
    PAUSE_NOTICE = "pause_notice"
    RESUME = "resume"
    END_PRICE_DECLINED = "end_price_declined"


@dataclass(frozen=True, slots=True)
class Timeline:
    status: Status
    current_period_end: datetime
    trial_end: datetime | None
    trial_notice_sent: bool
    cancel_at_period_end: bool
    incomplete_expires_at: datetime | None
    grace_ends_at: datetime | None
    # Set while dunning: when the hold ends (None: no hold, dunning ends with grace) and when
    # the next ladder retry is due (None: none left, or waiting for a new payment method).
    hold_ends_at: datetime | None = None
    next_retry_at: datetime | None = None
    # An App Store or Google Play subscription: the store renews, retries and ends it, and
    # its notifications move it; nothing ever falls due for it in Tenure.
    store_managed: bool = False
    # False for a trial started without a payment method (and none added since): at the
    # trial's end it expires instead of charging.
    has_payment_method: bool = True
    # False for a prepaid subscription: it ends at its period end (``trial_notice_sent`` then
    # says whether the expiring-soon notice went out for this period).
    renews: bool = True
    # A pause scheduled to start at this moment (the period end) instead of a renewal.
    pause_at: datetime | None = None
    # Paused: when subscription.pause_ending is due (None once sent). While paused the current
    # period is the pause itself, so current_period_end is the resume time.
    pause_notice_at: datetime | None = None
    # An opt-in price change the customer has not accepted: the renewal that starts at or
    # after this moment does not happen; the subscription ends (price_change_declined).
    price_declined_at: datetime | None = None


def _trial_notice_at(t: Timeline) -> datetime | None:
    if t.trial_end is None or t.trial_notice_sent or t.cancel_at_period_end:
        return None
    return t.trial_end - TRIAL_NOTICE_LEAD


def next_action_at(t: Timeline) -> datetime | None:
    if t.store_managed:
        return None
    if t.status is Status.INCOMPLETE:
        return t.incomplete_expires_at
    if t.status is Status.SCHEDULED:
        return t.current_period_end  # the start: a scheduled subscription's period ends there
    if t.status is Status.TRIALING:
        notice = _trial_notice_at(t)
        return min(notice, t.current_period_end) if notice else t.current_period_end
    if t.status is Status.ACTIVE:
        notice = _expiry_notice_at(t)
        return min(notice, t.current_period_end) if notice else t.current_period_end
    if t.status is Status.PAUSED:
        notice = t.pause_notice_at
        return min(notice, t.current_period_end) if notice else t.current_period_end
    if t.status in (Status.PAST_DUE, Status.ON_HOLD):
        candidates = [_dunning_end(t)]
        if t.status is Status.PAST_DUE:
            candidates.append(_grace_end(t))
        if t.next_retry_at is not None:
            candidates.append(t.next_retry_at)
        if t.cancel_at_period_end:
            candidates.append(t.current_period_end)
        return min(candidates)
    return None


def _grace_end(t: Timeline) -> datetime:
    # Rows from before dunning policies have no grace end: grace then lasts the period.
    return t.grace_ends_at or t.current_period_end


def _dunning_end(t: Timeline) -> datetime:
    # Without a hold, dunning ends with the grace period.
    return t.hold_ends_at or _grace_end(t)


def _expiry_notice_at(t: Timeline) -> datetime | None:
    if t.renews or t.trial_notice_sent or t.cancel_at_period_end:
        return None
    return t.current_period_end - EXPIRY_NOTICE_LEAD


def _running_due(t: Timeline, now: datetime) -> Due | None:
    """Trialing or active: the period end (renew, end, or a card-less trial's expiry), or the
    trial notice."""
    if now >= t.current_period_end:
        if t.cancel_at_period_end:
            return Due.END_CANCELED
        if t.status is Status.TRIALING and not t.has_payment_method:
            return Due.TRIAL_EXPIRY
        if not t.renews and t.status is not Status.TRIALING:
            return Due.PREPAID_END
        if _declined(t):
            return Due.END_PRICE_DECLINED
        pausing = t.status is Status.ACTIVE and t.pause_at is not None
        return Due.START_PAUSE if pausing else Due.RENEW
    if t.status is Status.TRIALING:
        notice = _trial_notice_at(t)
        return Due.TRIAL_NOTICE if notice is not None and now >= notice else None
    notice = _expiry_notice_at(t)
    return Due.EXPIRY_NOTICE if notice is not None and now >= notice else None


def due_action(t: Timeline, now: datetime) -> Due | None:
    """What is due at ``now``, the most urgent first; ``None`` when nothing is."""
    if t.store_managed:
        return None
    if t.status is Status.INCOMPLETE:
        expires = t.incomplete_expires_at
        return Due.INCOMPLETE_EXPIRY if expires is not None and now >= expires else None
    if t.status is Status.SCHEDULED:
        return Due.START if now >= t.current_period_end else None
    if t.status in (Status.TRIALING, Status.ACTIVE):
        return _running_due(t, now)
    if t.status is Status.PAUSED:
        return _paused_due(t, now)
    if t.status in (Status.PAST_DUE, Status.ON_HOLD):
        return _dunning_due(t, now)
    return None


def _paused_due(t: Timeline, now: datetime) -> Due | None:
    if now >= t.current_period_end:
        if t.cancel_at_period_end:
            return Due.END_CANCELED
        return Due.END_PRICE_DECLINED if _declined(t) else Due.RESUME
    notice = t.pause_notice_at
    return Due.PAUSE_NOTICE if notice is not None and now >= notice else None


def _declined(t: Timeline) -> bool:
    return t.price_declined_at is not None and t.current_period_end >= t.price_declined_at


def _dunning_due(t: Timeline, now: datetime) -> Due | None:
    if t.cancel_at_period_end and now >= t.current_period_end:
        return Due.END_CANCELED
    if now >= _dunning_end(t):
        return Due.DUNNING_EXHAUSTED
    if t.status is Status.PAST_DUE and now >= _grace_end(t):
        return Due.GRACE_EXPIRY
    if t.next_retry_at is not None and now >= t.next_retry_at:
        return Due.RETRY_PAYMENT
    return None
