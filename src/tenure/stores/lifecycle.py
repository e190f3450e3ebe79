"""How a store's report moves a Tenure subscription: the steps through the transition table.

Pure. A store says where a subscription *is* (active, in grace, on hold, ...); Tenure moves
its subscription there through legal transitions only (``subscriptions/state.py``), one
history row and one event per step, so a store subscription shows exactly the statuses,
history and events a web subscription shows. A missed notification can make the way longer
(active to expired through a failed renewal), never illegal; a report that would move a
subscription backwards (a grace period after the hold began) moves nothing.
"""

from __future__ import annotations

from typing import Final

from tenure.stores.facts import Happened
from tenure.subscriptions.state import TERMINAL_STATUSES, Action, Status, is_allowed, transition

S, A = Status, Action

# Reasons an ending counts as dunning running out (the store stopped collecting).
BILLING_ENDINGS: Final = frozenset({"billing_retry", "billing_error"})
MAX_STEPS: Final = 3


def _step_to_active(current: Status, happened: Happened) -> Action | None:
    return {
        S.INCOMPLETE: A.FIRST_PAYMENT_SUCCEEDED,
        S.TRIALING: A.TRIAL_CONVERTED,
        S.PAST_DUE: A.PAYMENT_RECOVERED,
        S.ON_HOLD: A.PAYMENT_RECOVERED,
        S.PAUSED: A.RESUME,
        # Only a reversed refund brings an ended subscription back; anything else starts a
        # new subscription (see :func:`needs_new_subscription`).
        S.CANCELED: A.REINSTATE if happened is Happened.REFUND_REVERSED else None,
    }.get(current)


def _step_to_ended(current: Status, target: Status, reason: str | None) -> Action | None:
    if current is S.INCOMPLETE:
        return A.INCOMPLETE_TIMED_OUT if target is not S.CANCELED else A.CANCEL_NOW
    if target is S.CANCELED:
        return A.REVOKE
    if reason in BILLING_ENDINGS:
        # The store stopped retrying: dunning ran out (through a failed renewal if the
        # notification that reported it was missed).
        if current in (S.PAST_DUE, S.ON_HOLD):
            return A.DUNNING_EXHAUSTED
        return A.HOLD
    return A.PERIOD_ENDED_CANCELED


def next_step(
    current: Status, target: Status, happened: Happened, *, reason: str | None = None
) -> Action | None:
    """The next legal action from ``current`` towards ``target``; None: stay (reached, or the
    report is behind the subscription and must not move it backwards)."""
    if current is target or (current in TERMINAL_STATUSES and target in TERMINAL_STATUSES):
        return None
    action: Action | None
    if target is S.ACTIVE:
        action = _step_to_active(current, happened)
    elif target is S.TRIALING or target is S.INCOMPLETE:
        action = None  # a start state: a subscription is created in it, never moved into it
    elif target is S.PAST_DUE:
        action = A.PAYMENT_FAILED if current in (S.TRIALING, S.ACTIVE, S.PAUSED) else None
    elif target is S.ON_HOLD:
        if current is S.PAST_DUE:
            action = A.GRACE_EXPIRED if happened is Happened.GRACE_EXPIRED else A.HOLD
        else:
            action = A.HOLD
    elif target is S.PAUSED:
        action = A.PAUSE if current is S.ACTIVE else _step_to_active(current, happened)
    else:  # an end: expired, canceled, incomplete_expired
        action = _step_to_ended(current, target, reason)
    if action is None or not is_allowed(current, action):
        return None
    return action


def path(
    current: Status, target: Status, happened: Happened, *, reason: str | None = None
) -> list[Action]:
    """Every step from ``current`` to ``target`` (possibly none)."""
    steps: list[Action] = []
    status = current
    for _ in range(MAX_STEPS):
        action = next_step(status, target, happened, reason=reason)
        if action is None:
            break
        steps.append(action)
        status = transition(status, action)
    return steps


def needs_new_subscription(current: Status, target: Status, happened: Happened) -> bool:
    """The store reports a running subscription where Tenure's has ended: a resubscription,
    shown as a new Tenure subscription (as on the web), except for a reversed refund."""
    if current not in TERMINAL_STATUSES or target in TERMINAL_STATUSES:
        return False
    return not (current is S.CANCELED and happened is Happened.REFUND_REVERSED)
