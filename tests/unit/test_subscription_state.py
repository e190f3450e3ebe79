"""The subscription state machine, checked exhaustively against an independent table.

``EXPECTED`` below is written out by hand from the domain rules, not derived from
``TRANSITIONS``: every (status, action) pair in Status x Action is either listed here with its
target or must raise :class:`IllegalTransition` (HTTP 409, ``subscription_illegal_transition``).
"""

from __future__ import annotations

import itertools

import pytest

from tenure.kernel.errors import Conflict
from tenure.subscriptions.state import (
    DUNNING_STATUSES,
    ENTITLED_STATUSES,
    LIVE_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Action,
    IllegalTransition,
    Status,
    is_allowed,
    transition,
)

# The legal edges, from the domain rules. Everything else is illegal.
EXPECTED: dict[tuple[Status, Action], Status] = {
    # incomplete: paid -> active; 23 h timeout -> incomplete_expired; cancel_now -> canceled
    (Status.INCOMPLETE, Action.FIRST_PAYMENT_SUCCEEDED): Status.ACTIVE,
    (Status.INCOMPLETE, Action.INCOMPLETE_TIMED_OUT): Status.INCOMPLETE_EXPIRED,
    (Status.INCOMPLETE, Action.CANCEL_NOW): Status.CANCELED,
    # trialing
    (Status.TRIALING, Action.TRIAL_CONVERTED): Status.ACTIVE,
    (Status.TRIALING, Action.PAYMENT_FAILED): Status.PAST_DUE,
    (Status.TRIALING, Action.SCHEDULE_CANCEL): Status.TRIALING,
    (Status.TRIALING, Action.REACTIVATE): Status.TRIALING,
    (Status.TRIALING, Action.CANCEL_NOW): Status.CANCELED,
    (Status.TRIALING, Action.PERIOD_ENDED_CANCELED): Status.EXPIRED,
    # active
    (Status.ACTIVE, Action.RENEWED): Status.ACTIVE,
    (Status.ACTIVE, Action.SCHEDULE_CANCEL): Status.ACTIVE,
    (Status.ACTIVE, Action.REACTIVATE): Status.ACTIVE,
    (Status.ACTIVE, Action.PAYMENT_FAILED): Status.PAST_DUE,
    (Status.ACTIVE, Action.CANCEL_NOW): Status.CANCELED,
    (Status.ACTIVE, Action.PERIOD_ENDED_CANCELED): Status.EXPIRED,
    # past_due
    (Status.PAST_DUE, Action.PAYMENT_RECOVERED): Status.ACTIVE,
    (Status.PAST_DUE, Action.SCHEDULE_CANCEL): Status.PAST_DUE,
    (Status.PAST_DUE, Action.REACTIVATE): Status.PAST_DUE,
    (Status.PAST_DUE, Action.CANCEL_NOW): Status.CANCELED,
    (Status.PAST_DUE, Action.PERIOD_ENDED_CANCELED): Status.EXPIRED,
    (Status.PAST_DUE, Action.GRACE_EXPIRED): Status.ON_HOLD,
    (Status.PAST_DUE, Action.DUNNING_EXHAUSTED): Status.EXPIRED,  # a policy without a hold
    # on_hold: no access, retries go on; paid -> active, hold over -> expired
    (Status.ON_HOLD, Action.PAYMENT_RECOVERED): Status.ACTIVE,
    (Status.ON_HOLD, Action.SCHEDULE_CANCEL): Status.ON_HOLD,
    (Status.ON_HOLD, Action.REACTIVATE): Status.ON_HOLD,
    (Status.ON_HOLD, Action.CANCEL_NOW): Status.CANCELED,
    (Status.ON_HOLD, Action.PERIOD_ENDED_CANCELED): Status.EXPIRED,
    (Status.ON_HOLD, Action.DUNNING_EXHAUSTED): Status.EXPIRED,
    # store-only actions (App Store, Google Play): what the store reports, legal only here
    # hold: a renewal failed and the store gives no grace (or grace ended early in the store)
    (Status.TRIALING, Action.HOLD): Status.ON_HOLD,
    (Status.ACTIVE, Action.HOLD): Status.ON_HOLD,
    (Status.PAST_DUE, Action.HOLD): Status.ON_HOLD,
    (Status.PAUSED, Action.HOLD): Status.ON_HOLD,
    # paused (Google Play): only from active; resumes to active, or fails into dunning
    (Status.ACTIVE, Action.PAUSE): Status.PAUSED,
    (Status.PAUSED, Action.RESUME): Status.ACTIVE,
    (Status.PAUSED, Action.PAYMENT_FAILED): Status.PAST_DUE,
    (Status.PAUSED, Action.SCHEDULE_CANCEL): Status.PAUSED,
    (Status.PAUSED, Action.REACTIVATE): Status.PAUSED,
    (Status.PAUSED, Action.CANCEL_NOW): Status.CANCELED,
    (Status.PAUSED, Action.PERIOD_ENDED_CANCELED): Status.EXPIRED,
    # revoke: refunded or taken back by the store; ends every started subscription at once
    (Status.TRIALING, Action.REVOKE): Status.CANCELED,
    (Status.ACTIVE, Action.REVOKE): Status.CANCELED,
    (Status.PAST_DUE, Action.REVOKE): Status.CANCELED,
    (Status.ON_HOLD, Action.REVOKE): Status.CANCELED,
    (Status.PAUSED, Action.REVOKE): Status.CANCELED,
    # reinstate: the store reversed that refund; the only edge out of an end
    (Status.CANCELED, Action.REINSTATE): Status.ACTIVE,
    # lifecycle controls (issue 12)
    # a trial that needed no payment method ends without one: expired, nothing charged
    (Status.TRIALING, Action.TRIAL_EXPIRED): Status.EXPIRED,
    # scheduled (start_at): starts paid (incomplete until the first invoice is paid) or into its
    # trial when its time comes; before that it can only be canceled
    (Status.SCHEDULED, Action.START): Status.INCOMPLETE,
    (Status.SCHEDULED, Action.START_TRIAL): Status.TRIALING,
    (Status.SCHEDULED, Action.CANCEL_NOW): Status.CANCELED,
    # a prepaid subscription (renews = false) ends with the time bought
    (Status.ACTIVE, Action.PREPAID_ENDED): Status.EXPIRED,
    # retention (web): a pause scheduled for the period end, or dropped before it starts;
    # the pause itself is pause/resume above (active -> paused -> active)
    (Status.ACTIVE, Action.SCHEDULE_PAUSE): Status.ACTIVE,
    (Status.ACTIVE, Action.UNSCHEDULE_PAUSE): Status.ACTIVE,
    # a save offer is taken by an active subscription and keeps it active
    (Status.ACTIVE, Action.ACCEPT_OFFER): Status.ACTIVE,
    # price changes: scheduled for (and accepted by) every subscription that renews again
    (Status.TRIALING, Action.SCHEDULE_PRICE_CHANGE): Status.TRIALING,
    (Status.ACTIVE, Action.SCHEDULE_PRICE_CHANGE): Status.ACTIVE,
    (Status.PAST_DUE, Action.SCHEDULE_PRICE_CHANGE): Status.PAST_DUE,
    (Status.ON_HOLD, Action.SCHEDULE_PRICE_CHANGE): Status.ON_HOLD,
    (Status.PAUSED, Action.SCHEDULE_PRICE_CHANGE): Status.PAUSED,
    (Status.TRIALING, Action.ACCEPT_PRICE_CHANGE): Status.TRIALING,
    (Status.ACTIVE, Action.ACCEPT_PRICE_CHANGE): Status.ACTIVE,
    (Status.PAST_DUE, Action.ACCEPT_PRICE_CHANGE): Status.PAST_DUE,
    (Status.ON_HOLD, Action.ACCEPT_PRICE_CHANGE): Status.ON_HOLD,
    (Status.PAUSED, Action.ACCEPT_PRICE_CHANGE): Status.PAUSED,
    # incomplete_expired and expired: terminal, no edges at all
}

ALL_PAIRS = list(itertools.product(Status, Action))


def _pair_id(pair: tuple[Status, Action]) -> str:
    return f"{pair[0].value}--{pair[1].value}"


def test_product_covers_every_status_and_action_pair() -> None:
    # 10 statuses x 26 actions = 260 pairs; guards against an enum member being added unnoticed.
    assert len(Status) == 10
    assert len(Action) == 26
    assert len(ALL_PAIRS) == 260
    assert len(EXPECTED) == 63


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=[_pair_id(p) for p in ALL_PAIRS])
def test_transition_matches_expected_table_for_every_status_action_pair(
    pair: tuple[Status, Action],
) -> None:
    current, action = pair
    if pair in EXPECTED:
        assert transition(current, action) is EXPECTED[pair]
        assert is_allowed(current, action) is True
    else:
        assert is_allowed(current, action) is False
        with pytest.raises(IllegalTransition) as info:
            transition(current, action)
        err = info.value
        assert isinstance(err, Conflict)
        assert err.http_status == 409
        assert err.code == "subscription_illegal_transition"
        assert err.current is current
        assert err.action is action
        assert err.extra == {"subscription_status": current.value, "action": action.value}


def test_transitions_table_has_exactly_the_expected_edges() -> None:
    assert dict(TRANSITIONS) == EXPECTED


def test_illegal_transition_message_names_status_and_action_in_words() -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(Status.CANCELED, Action.PAYMENT_RECOVERED)
    assert info.value.message == "a subscription that is canceled cannot payment recovered"


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_status_has_no_outgoing_edge_but_a_store_reinstatement(status: Status) -> None:
    # A store can reverse the refund that revoked a subscription (App Store REFUND_REVERSED);
    # nothing Tenure does on its own ever leaves an end.
    allowed = [Action.REINSTATE] if status is Status.CANCELED else []
    assert [a for (s, a) in TRANSITIONS if s is status] == allowed
    for action in Action:
        if action in allowed:
            continue
        with pytest.raises(IllegalTransition):
            transition(status, action)


def test_only_pause_leads_into_paused_and_pausing_is_scheduled_only_when_active() -> None:
    store_only = {Action.HOLD, Action.PAUSE, Action.RESUME, Action.REVOKE, Action.REINSTATE}
    scheduling = {
        s for (s, a) in TRANSITIONS if a in (Action.SCHEDULE_PAUSE, Action.UNSCHEDULE_PAUSE)
    }
    assert scheduling == {Status.ACTIVE}
    into = {a for (s, a), d in TRANSITIONS.items() if d is Status.PAUSED and s is not d}
    assert into == {Action.PAUSE}
    assert store_only <= {a for (_, a) in TRANSITIONS}


def test_terminal_statuses_are_exactly_incomplete_expired_canceled_expired() -> None:
    assert frozenset({Status.INCOMPLETE_EXPIRED, Status.CANCELED, Status.EXPIRED}) == (
        TERMINAL_STATUSES
    )


@pytest.mark.parametrize("status", sorted(set(Status) - TERMINAL_STATUSES))
def test_non_terminal_status_has_an_exit_to_a_terminal_status(status: Status) -> None:
    # cancel_now is the universal way out of every running subscription.
    assert transition(status, Action.CANCEL_NOW) is Status.CANCELED


def _reachable(starts: set[Status]) -> set[Status]:
    seen = set(starts)
    frontier = list(starts)
    while frontier:
        src = frontier.pop()
        for action in Action:
            if is_allowed(src, action):
                dst = transition(src, action)
                if dst not in seen:
                    seen.add(dst)
                    frontier.append(dst)
    return seen


def test_every_status_reachable_from_the_starting_statuses() -> None:
    assert _reachable({Status.SCHEDULED}) == set(Status)
    assert _reachable({Status.INCOMPLETE, Status.TRIALING}) == set(Status) - {Status.SCHEDULED}


def test_from_incomplete_alone_everything_but_trialing_and_scheduled_is_reachable() -> None:
    # trialing is entered only at subscribe or from scheduled; nothing leads back to scheduled.
    assert _reachable({Status.INCOMPLETE}) == set(Status) - {Status.TRIALING, Status.SCHEDULED}
    into = {s for (s, a), d in TRANSITIONS.items() if d is Status.TRIALING and s is not d}
    assert into == {Status.SCHEDULED}
    assert not [pair for pair, d in TRANSITIONS.items() if d is Status.SCHEDULED]


def test_scheduled_is_live_but_not_entitled() -> None:
    assert Status.SCHEDULED in LIVE_STATUSES
    assert Status.SCHEDULED not in ENTITLED_STATUSES


def test_live_and_terminal_statuses_are_disjoint_and_cover_all() -> None:
    assert not LIVE_STATUSES & TERMINAL_STATUSES
    assert LIVE_STATUSES.isdisjoint(TERMINAL_STATUSES)
    assert set(LIVE_STATUSES | TERMINAL_STATUSES) == set(Status)


def test_entitled_is_a_proper_subset_of_live() -> None:
    assert ENTITLED_STATUSES < LIVE_STATUSES
    assert frozenset({Status.TRIALING, Status.ACTIVE, Status.PAST_DUE}) == ENTITLED_STATUSES


def test_on_hold_is_live_but_not_entitled_and_is_dunning() -> None:
    assert Status.ON_HOLD in LIVE_STATUSES
    assert Status.ON_HOLD not in ENTITLED_STATUSES
    assert frozenset({Status.PAST_DUE, Status.ON_HOLD}) == DUNNING_STATUSES


def test_on_hold_is_reached_from_dunning_or_a_store_hold_and_leaves_to_active_or_an_end() -> None:
    into = {s for (s, a), d in TRANSITIONS.items() if d is Status.ON_HOLD and s is not d}
    assert into == {Status.PAST_DUE, Status.TRIALING, Status.ACTIVE, Status.PAUSED}
    web_into = {
        s
        for (s, a), d in TRANSITIONS.items()
        if d is Status.ON_HOLD and s is not d and a is not Action.HOLD
    }
    assert web_into == {Status.PAST_DUE}
    out = {d for (s, a), d in TRANSITIONS.items() if s is Status.ON_HOLD and d is not s}
    assert out == {Status.ACTIVE, Status.CANCELED, Status.EXPIRED}


def test_incomplete_is_live_but_not_entitled() -> None:
    assert Status.INCOMPLETE in LIVE_STATUSES
    assert Status.INCOMPLETE not in ENTITLED_STATUSES
