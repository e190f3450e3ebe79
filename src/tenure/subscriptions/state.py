"""The subscription state machine: one explicit table of every legal transition.

Pure: no I/O, no clock. Anything not in :data:`TRANSITIONS` is illegal and raises
:class:`IllegalTransition` (HTTP 409 with code ``subscription_illegal_transition``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from tenure.kernel.errors import Conflict


class Status(StrEnum):
    SCHEDULED = "scheduled"  # created to start later (start_at): no access, nothing billed yet
    INCOMPLETE = "incomplete"  # first payment not (yet) made; expires after 23 hours
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal payment failed; access kept during grace
    ON_HOLD = "on_hold"  # grace is over and still unpaid: no access, retries go on
    PAUSED = "paused"  # paused (web: on request; Google Play: in the store): no access, resumes
    CANCELED = "canceled"  # ended at once on request
    EXPIRED = "expired"  # ended at the end of a period (canceled) or when dunning ran out


class Action(StrEnum):
    FIRST_PAYMENT_SUCCEEDED = "first_payment_succeeded"
    INCOMPLETE_TIMED_OUT = "incomplete_timed_out"
    TRIAL_CONVERTED = "trial_converted"  # the first charge after a trial succeeded
    RENEWED = "renewed"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_RECOVERED = "payment_recovered"
    SCHEDULE_CANCEL = "schedule_cancel"  # cancel at period end: status unchanged, flag set
    REACTIVATE = "reactivate"
    CANCEL_NOW = "cancel_now"
    PERIOD_ENDED_CANCELED = "period_ended_canceled"
    GRACE_EXPIRED = "grace_expired"  # past_due -> on_hold
    DUNNING_EXHAUSTED = "dunning_exhausted"  # the hold (or a policy without one) ran out
    # Taken only from store notifications (tenure.flows.stores): the store decides these.
    HOLD = "hold"  # a renewal failed with no grace period: no access while the store retries
    PAUSE = "pause"  # a pause took effect (web: requested; Google Play: the store's)
    RESUME = "resume"  # the pause ended (web: Tenure bills from that day; store: renewed)
    REVOKE = "revoke"  # the store refunded the purchase or revoked it (Family Sharing)
    REINSTATE = "reinstate"  # the store reversed the refund that revoked it
    # Lifecycle controls (issue 12).
    TRIAL_EXPIRED = "trial_expired"  # a card-less trial ended with no payment method on file
    START = "start"  # a scheduled subscription's start: its first period is charged
    START_TRIAL = "start_trial"  # a scheduled subscription's start, into its trial
    PREPAID_ENDED = "prepaid_ended"  # a prepaid (non-renewing) subscription reached its end
    # Retention (docs/retention.md). PAUSE and RESUME above are also the web pause's edges.
    SCHEDULE_PAUSE = "schedule_pause"  # a pause from the period end: status unchanged
    UNSCHEDULE_PAUSE = "unschedule_pause"  # that scheduled pause dropped before it started
    ACCEPT_OFFER = "accept_offer"  # a save offer was taken: status unchanged
    SCHEDULE_PRICE_CHANGE = "schedule_price_change"  # a new price from a later renewal
    ACCEPT_PRICE_CHANGE = "accept_price_change"  # the customer agreed to it (opt-in)


S, A = Status, Action

TRANSITIONS: Final[Mapping[tuple[Status, Action], Status]] = {
    (S.INCOMPLETE, A.FIRST_PAYMENT_SUCCEEDED): S.ACTIVE,
    (S.INCOMPLETE, A.INCOMPLETE_TIMED_OUT): S.INCOMPLETE_EXPIRED,
    (S.INCOMPLETE, A.CANCEL_NOW): S.CANCELED,
    (S.TRIALING, A.TRIAL_CONVERTED): S.ACTIVE,
    (S.TRIALING, A.PAYMENT_FAILED): S.PAST_DUE,
    (S.TRIALING, A.SCHEDULE_CANCEL): S.TRIALING,
    (S.TRIALING, A.REACTIVATE): S.TRIALING,
    (S.TRIALING, A.CANCEL_NOW): S.CANCELED,
    (S.TRIALING, A.PERIOD_ENDED_CANCELED): S.EXPIRED,
    (S.ACTIVE, A.RENEWED): S.ACTIVE,
    (S.ACTIVE, A.PAYMENT_FAILED): S.PAST_DUE,
    (S.ACTIVE, A.SCHEDULE_CANCEL): S.ACTIVE,
    (S.ACTIVE, A.REACTIVATE): S.ACTIVE,
    (S.ACTIVE, A.CANCEL_NOW): S.CANCELED,
    (S.ACTIVE, A.PERIOD_ENDED_CANCELED): S.EXPIRED,
    (S.PAST_DUE, A.PAYMENT_RECOVERED): S.ACTIVE,
    (S.PAST_DUE, A.SCHEDULE_CANCEL): S.PAST_DUE,
    (S.PAST_DUE, A.REACTIVATE): S.PAST_DUE,
    (S.PAST_DUE, A.CANCEL_NOW): S.CANCELED,
    (S.PAST_DUE, A.PERIOD_ENDED_CANCELED): S.EXPIRED,
    (S.PAST_DUE, A.GRACE_EXPIRED): S.ON_HOLD,
    (S.PAST_DUE, A.DUNNING_EXHAUSTED): S.EXPIRED,
    (S.ON_HOLD, A.PAYMENT_RECOVERED): S.ACTIVE,
    (S.ON_HOLD, A.SCHEDULE_CANCEL): S.ON_HOLD,
    (S.ON_HOLD, A.REACTIVATE): S.ON_HOLD,
    (S.ON_HOLD, A.CANCEL_NOW): S.CANCELED,
    (S.ON_HOLD, A.PERIOD_ENDED_CANCELED): S.EXPIRED,
    (S.ON_HOLD, A.DUNNING_EXHAUSTED): S.EXPIRED,
    # Store subscriptions: the store reports what happened, the table still decides legality.
    (S.TRIALING, A.HOLD): S.ON_HOLD,
    (S.ACTIVE, A.HOLD): S.ON_HOLD,
    (S.PAST_DUE, A.HOLD): S.ON_HOLD,  # not the grace end Tenure scheduled: the store's word
    (S.PAUSED, A.HOLD): S.ON_HOLD,
    (S.ACTIVE, A.PAUSE): S.PAUSED,
    (S.PAUSED, A.RESUME): S.ACTIVE,
    (S.PAUSED, A.PAYMENT_FAILED): S.PAST_DUE,  # the renewal at the end of the pause failed
    (S.PAUSED, A.SCHEDULE_CANCEL): S.PAUSED,
    (S.PAUSED, A.REACTIVATE): S.PAUSED,
    (S.PAUSED, A.CANCEL_NOW): S.CANCELED,
    (S.PAUSED, A.PERIOD_ENDED_CANCELED): S.EXPIRED,
    (S.TRIALING, A.REVOKE): S.CANCELED,
    (S.ACTIVE, A.REVOKE): S.CANCELED,
    (S.PAST_DUE, A.REVOKE): S.CANCELED,
    (S.ON_HOLD, A.REVOKE): S.CANCELED,
    (S.PAUSED, A.REVOKE): S.CANCELED,
    # The one way out of an end: a store reversed the refund that ended the subscription.
    (S.CANCELED, A.REINSTATE): S.ACTIVE,
    # Lifecycle controls (issue 12): a trial that needed no card ends without one.
    (S.TRIALING, A.TRIAL_EXPIRED): S.EXPIRED,
    # A subscription scheduled to start later starts (paid or into its trial) or is canceled.
    (S.SCHEDULED, A.START): S.INCOMPLETE,
    (S.SCHEDULED, A.START_TRIAL): S.TRIALING,
    (S.SCHEDULED, A.CANCEL_NOW): S.CANCELED,
    # A prepaid plan (renews = false) ends with the time bought: no renewal, no dunning.
    (S.ACTIVE, A.PREPAID_ENDED): S.EXPIRED,
    # Retention, web: a pause is scheduled for the period end of an active subscription (or
    # starts now), and the pause itself is the PAUSE / RESUME edges above.
    (S.ACTIVE, A.SCHEDULE_PAUSE): S.ACTIVE,
    (S.ACTIVE, A.UNSCHEDULE_PAUSE): S.ACTIVE,
    # A save offer (a discount, a pause, a downgrade, free days) keeps an active subscription.
    (S.ACTIVE, A.ACCEPT_OFFER): S.ACTIVE,
    # A price change reaches every subscription that will renew again; the status stays.
    **{
        (status, action): status
        for status in (S.TRIALING, S.ACTIVE, S.PAST_DUE, S.ON_HOLD, S.PAUSED)
        for action in (A.SCHEDULE_PRICE_CHANGE, A.ACCEPT_PRICE_CHANGE)
    },
}

# Statuses in which the customer has a subscription that still runs (and blocks a second one).
LIVE_STATUSES: Final[frozenset[Status]] = frozenset(
    {S.SCHEDULED, S.INCOMPLETE, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.ON_HOLD, S.PAUSED}
)
# Statuses in which a renewal is unpaid and the dunning policy runs.
DUNNING_STATUSES: Final[frozenset[Status]] = frozenset({S.PAST_DUE, S.ON_HOLD})
# Statuses that grant the plan's features (on_hold and paused fall back to Free).
ENTITLED_STATUSES: Final[frozenset[Status]] = frozenset({S.TRIALING, S.ACTIVE, S.PAST_DUE})
TERMINAL_STATUSES: Final[frozenset[Status]] = frozenset(
    {S.INCOMPLETE_EXPIRED, S.CANCELED, S.EXPIRED}
)


class IllegalTransition(Conflict):
    code = "subscription_illegal_transition"

    def __init__(self, current: Status, action: Action) -> None:
        super().__init__(
            f"a subscription that is {current.value} cannot {action.value.replace('_', ' ')}",
            subscription_status=current.value,
            action=action.value,
        )
        self.current = current
        self.action = action


def transition(current: Status, action: Action) -> Status:
    """The status after ``action``; raises :class:`IllegalTransition` if it is not allowed."""
    nxt = TRANSITIONS.get((current, action))
    if nxt is None:
        raise IllegalTransition(current, action)
    return nxt


def is_allowed(current: Status, action: Action) -> bool:
    return (current, action) in TRANSITIONS
