"""What falls due for a subscription and when: due_action and next_action_at agree.

Worked dates: a 14-day trial started 2025-03-01 00:00 UTC ends 2025-03-15 00:00 UTC, so the
trial notice (3 days ahead) is due 2025-03-12 00:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenure.subscriptions.schedule import (
    DEFAULT_GRACE,
    INCOMPLETE_WINDOW,
    TRIAL_NOTICE_LEAD,
    Due,
    Timeline,
    due_action,
    next_action_at,
)
from tenure.subscriptions.state import TERMINAL_STATUSES, Status

US = timedelta(microseconds=1)

START = datetime(2025, 3, 1, tzinfo=UTC)
TRIAL_END = datetime(2025, 3, 15, tzinfo=UTC)  # 14-day trial
NOTICE_AT = datetime(2025, 3, 12, tzinfo=UTC)  # trial_end - 3 days
PERIOD_END = datetime(2025, 4, 1, tzinfo=UTC)  # monthly period from START
FAILED_AT = datetime(2025, 4, 1, tzinfo=UTC)  # renewal failed at period end...
GRACE_END = datetime(2025, 4, 8, tzinfo=UTC)  # ...grace of 7 days
HOLD_END = datetime(2025, 5, 8, tzinfo=UTC)  # ...then a hold of 30 days
RETRY_AT = datetime(2025, 4, 2, tzinfo=UTC)  # first ladder step, +1 day


def timeline(
    status: Status,
    *,
    current_period_end: datetime = PERIOD_END,
    trial_end: datetime | None = None,
    trial_notice_sent: bool = False,
    cancel_at_period_end: bool = False,
    incomplete_expires_at: datetime | None = None,
    grace_ends_at: datetime | None = None,
    hold_ends_at: datetime | None = None,
    next_retry_at: datetime | None = None,
    pause_at: datetime | None = None,
    pause_notice_at: datetime | None = None,
    store_managed: bool = False,
) -> Timeline:
    return Timeline(
        pause_at=pause_at,
        pause_notice_at=pause_notice_at,
        store_managed=store_managed,
        status=status,
        current_period_end=current_period_end,
        trial_end=trial_end,
        trial_notice_sent=trial_notice_sent,
        cancel_at_period_end=cancel_at_period_end,
        incomplete_expires_at=incomplete_expires_at,
        grace_ends_at=grace_ends_at,
        hold_ends_at=hold_ends_at,
        next_retry_at=next_retry_at,
    )


def trialing(
    *,
    current_period_end: datetime = TRIAL_END,
    trial_end: datetime | None = TRIAL_END,
    trial_notice_sent: bool = False,
    cancel_at_period_end: bool = False,
) -> Timeline:
    """A 14-day trial (2025-03-01 .. 2025-03-15); the first period ends with the trial."""
    return timeline(
        Status.TRIALING,
        current_period_end=current_period_end,
        trial_end=trial_end,
        trial_notice_sent=trial_notice_sent,
        cancel_at_period_end=cancel_at_period_end,
    )


# --------------------------------------------------------------------------- constants


def test_constants_are_3_day_notice_23_hour_incomplete_window_7_day_grace() -> None:
    assert timedelta(days=3) == TRIAL_NOTICE_LEAD
    assert timedelta(hours=23) == INCOMPLETE_WINDOW
    assert timedelta(days=7) == DEFAULT_GRACE
    assert TRIAL_END - TRIAL_NOTICE_LEAD == NOTICE_AT
    assert FAILED_AT + DEFAULT_GRACE == GRACE_END


# --------------------------------------------------------------------------- trialing


def test_trialing_next_action_is_notice_3_days_before_trial_end_2025_03_12() -> None:
    assert next_action_at(trialing()) == NOTICE_AT


def test_trialing_nothing_due_1us_before_notice() -> None:
    assert due_action(trialing(), NOTICE_AT - US) is None
    assert due_action(trialing(), START) is None


def test_trialing_notice_due_at_and_after_2025_03_12() -> None:
    t = trialing()
    assert due_action(t, NOTICE_AT) is Due.TRIAL_NOTICE
    assert due_action(t, TRIAL_END - US) is Due.TRIAL_NOTICE


def test_trialing_notice_already_sent_next_action_is_trial_end() -> None:
    t = trialing(trial_notice_sent=True)
    assert next_action_at(t) == TRIAL_END
    assert due_action(t, NOTICE_AT) is None
    assert due_action(t, TRIAL_END - US) is None
    assert due_action(t, TRIAL_END) is Due.RENEW


def test_trialing_canceling_gets_no_notice_and_ends_at_trial_end() -> None:
    t = trialing(cancel_at_period_end=True)
    assert next_action_at(t) == TRIAL_END
    assert due_action(t, NOTICE_AT) is None
    assert due_action(t, TRIAL_END - US) is None
    assert due_action(t, TRIAL_END) is Due.END_CANCELED


def test_trialing_at_trial_end_renew_wins_over_unsent_notice() -> None:
    # Worker was down: notice never sent and trial already over -> convert (RENEW) first.
    assert due_action(trialing(), TRIAL_END) is Due.RENEW
    assert due_action(trialing(), TRIAL_END + timedelta(days=2)) is Due.RENEW


def test_trialing_short_trial_notice_before_start_is_due_immediately() -> None:
    # 2-day trial: notice point (trial_end - 3 d) lies before the trial started.
    end = START + timedelta(days=2)
    t = trialing(current_period_end=end, trial_end=end)
    assert next_action_at(t) == end - TRIAL_NOTICE_LEAD
    assert due_action(t, START) is Due.TRIAL_NOTICE


def test_trialing_without_trial_end_renews_at_period_end() -> None:
    t = trialing(trial_end=None)
    assert next_action_at(t) == TRIAL_END
    assert due_action(t, NOTICE_AT) is None
    assert due_action(t, TRIAL_END) is Due.RENEW


# --------------------------------------------------------------------------- active


def test_active_renews_at_period_end_2025_04_01() -> None:
    t = timeline(Status.ACTIVE)
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END - US) is None
    assert due_action(t, PERIOD_END) is Due.RENEW
    assert due_action(t, PERIOD_END + timedelta(hours=5)) is Due.RENEW


def test_active_cancel_at_period_end_is_end_canceled_at_period_end() -> None:
    t = timeline(Status.ACTIVE, cancel_at_period_end=True)
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END - US) is None
    assert due_action(t, PERIOD_END) is Due.END_CANCELED


def test_active_never_gets_a_trial_notice_even_with_unsent_trial_end() -> None:
    # Converted early from a trial whose notice was never sent: active ignores trial notice.
    t = timeline(Status.ACTIVE, trial_end=PERIOD_END)
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END - TRIAL_NOTICE_LEAD) is None


# --------------------------------------------------------------------------- incomplete


def test_incomplete_expires_23_hours_after_creation() -> None:
    expires = START + INCOMPLETE_WINDOW  # 2025-03-01 23:00 UTC
    t = timeline(Status.INCOMPLETE, incomplete_expires_at=expires)
    assert next_action_at(t) == datetime(2025, 3, 1, 23, tzinfo=UTC)
    assert due_action(t, expires - US) is None
    assert due_action(t, expires) is Due.INCOMPLETE_EXPIRY
    # ...and never renews, even after its period end.
    assert due_action(t, PERIOD_END + timedelta(days=1)) is Due.INCOMPLETE_EXPIRY


def test_incomplete_without_expiry_is_never_due() -> None:
    t = timeline(Status.INCOMPLETE)
    assert next_action_at(t) is None
    assert due_action(t, PERIOD_END + timedelta(days=365)) is None


# --------------------------------------------------------------------------- past_due


def test_past_due_grace_expires_7_days_after_failure_2025_04_08_into_hold() -> None:
    t = timeline(Status.PAST_DUE, grace_ends_at=GRACE_END, hold_ends_at=HOLD_END)
    assert next_action_at(t) == GRACE_END
    assert due_action(t, GRACE_END - US) is None
    assert due_action(t, GRACE_END) is Due.GRACE_EXPIRY
    assert due_action(t, HOLD_END - US) is Due.GRACE_EXPIRY
    assert due_action(t, HOLD_END) is Due.DUNNING_EXHAUSTED


def test_past_due_without_hold_is_exhausted_when_grace_ends() -> None:
    # A policy with hold_days = 0, or a row from before account holds existed.
    t = timeline(Status.PAST_DUE, grace_ends_at=GRACE_END)
    assert next_action_at(t) == GRACE_END
    assert due_action(t, GRACE_END - US) is None
    assert due_action(t, GRACE_END) is Due.DUNNING_EXHAUSTED


def test_past_due_retry_is_due_at_the_ladder_step_before_grace_ends() -> None:
    t = timeline(
        Status.PAST_DUE, grace_ends_at=GRACE_END, hold_ends_at=HOLD_END, next_retry_at=RETRY_AT
    )
    assert next_action_at(t) == RETRY_AT
    assert due_action(t, RETRY_AT - US) is None
    assert due_action(t, RETRY_AT) is Due.RETRY_PAYMENT
    # grace ending outranks a retry that is still due
    assert due_action(t, GRACE_END) is Due.GRACE_EXPIRY


def test_past_due_retry_after_grace_end_waits_for_the_grace_expiry_first() -> None:
    retry = GRACE_END + timedelta(days=6)
    t = timeline(
        Status.PAST_DUE, grace_ends_at=GRACE_END, hold_ends_at=HOLD_END, next_retry_at=retry
    )
    assert next_action_at(t) == GRACE_END
    assert due_action(t, retry) is Due.GRACE_EXPIRY


def test_past_due_zero_grace_goes_on_hold_at_once() -> None:
    t = timeline(Status.PAST_DUE, grace_ends_at=FAILED_AT, hold_ends_at=HOLD_END)
    assert next_action_at(t) == FAILED_AT
    assert due_action(t, FAILED_AT) is Due.GRACE_EXPIRY


# --------------------------------------------------------------------------- on_hold


def test_on_hold_retries_on_the_ladder_and_is_exhausted_when_the_hold_ends() -> None:
    retry = GRACE_END + timedelta(days=6)
    t = timeline(
        Status.ON_HOLD, grace_ends_at=GRACE_END, hold_ends_at=HOLD_END, next_retry_at=retry
    )
    assert next_action_at(t) == retry
    assert due_action(t, retry - US) is None
    assert due_action(t, retry) is Due.RETRY_PAYMENT
    assert due_action(t, HOLD_END) is Due.DUNNING_EXHAUSTED


def test_on_hold_waiting_for_a_new_card_is_only_due_when_the_hold_ends() -> None:
    t = timeline(Status.ON_HOLD, grace_ends_at=GRACE_END, hold_ends_at=HOLD_END)
    assert next_action_at(t) == HOLD_END
    assert due_action(t, GRACE_END) is None
    assert due_action(t, HOLD_END - US) is None
    assert due_action(t, HOLD_END) is Due.DUNNING_EXHAUSTED


def test_on_hold_retry_at_the_hold_end_is_exhaustion() -> None:
    t = timeline(Status.ON_HOLD, hold_ends_at=HOLD_END, next_retry_at=HOLD_END)
    assert next_action_at(t) == HOLD_END
    assert due_action(t, HOLD_END) is Due.DUNNING_EXHAUSTED


def test_on_hold_canceling_ends_at_period_end_when_before_hold_end() -> None:
    t = timeline(
        Status.ON_HOLD, grace_ends_at=GRACE_END, hold_ends_at=HOLD_END, cancel_at_period_end=True
    )
    period_end = GRACE_END + timedelta(days=3)
    t = Timeline(**{**_fields(t), "current_period_end": period_end})
    assert next_action_at(t) == period_end
    assert due_action(t, period_end) is Due.END_CANCELED


def _fields(t: Timeline) -> dict[str, object]:
    return {name: getattr(t, name) for name in Timeline.__dataclass_fields__}


def test_past_due_grace_may_outlast_period_end_without_cancel() -> None:
    # Failure mid-period: period ends 04-01 but grace runs to 04-08; no renewal while past_due.
    t = timeline(Status.PAST_DUE, grace_ends_at=GRACE_END)
    assert due_action(t, PERIOD_END) is None
    assert due_action(t, PERIOD_END + timedelta(days=3)) is None


def test_past_due_canceling_ends_at_period_end_when_before_grace() -> None:
    # period end 04-01 < grace end 04-08 -> END_CANCELED at 04-01.
    t = timeline(
        Status.PAST_DUE,
        current_period_end=PERIOD_END,
        grace_ends_at=GRACE_END,
        cancel_at_period_end=True,
    )
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END - US) is None
    assert due_action(t, PERIOD_END) is Due.END_CANCELED
    assert due_action(t, GRACE_END) is Due.END_CANCELED


def test_past_due_canceling_grace_expires_first_when_grace_before_period_end() -> None:
    grace = PERIOD_END - timedelta(days=2)  # 2025-03-30
    t = timeline(
        Status.PAST_DUE, grace_ends_at=grace, hold_ends_at=HOLD_END, cancel_at_period_end=True
    )
    assert next_action_at(t) == grace
    assert due_action(t, grace - US) is None
    assert due_action(t, grace) is Due.GRACE_EXPIRY
    assert due_action(t, PERIOD_END) is Due.END_CANCELED


def test_past_due_canceling_grace_equal_to_period_end_is_end_canceled() -> None:
    t = timeline(Status.PAST_DUE, grace_ends_at=PERIOD_END, cancel_at_period_end=True)
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END) is Due.END_CANCELED


def test_past_due_without_grace_end_expires_at_period_end() -> None:
    t = timeline(Status.PAST_DUE)
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END - US) is None
    assert due_action(t, PERIOD_END) is Due.DUNNING_EXHAUSTED


# --------------------------------------------------------------------------- pause (web)

RESUME_AT = datetime(2025, 5, 1, tzinfo=UTC)  # a pause from PERIOD_END for one month
PAUSE_NOTICE = datetime(2025, 4, 24, tzinfo=UTC)  # 7 days before the resume


def test_active_with_a_scheduled_pause_starts_it_at_period_end_instead_of_renewing() -> None:
    t = timeline(Status.ACTIVE, pause_at=PERIOD_END)
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END - US) is None
    assert due_action(t, PERIOD_END) is Due.START_PAUSE


def test_a_scheduled_pause_gives_way_to_a_cancel_at_period_end() -> None:
    t = timeline(Status.ACTIVE, pause_at=PERIOD_END, cancel_at_period_end=True)
    assert due_action(t, PERIOD_END) is Due.END_CANCELED


def test_trialing_never_starts_a_pause() -> None:
    t = timeline(Status.TRIALING, trial_end=PERIOD_END, trial_notice_sent=True, pause_at=PERIOD_END)
    assert due_action(t, PERIOD_END) is Due.RENEW


def test_paused_sends_its_notice_then_resumes_at_the_end_of_the_pause() -> None:
    t = timeline(Status.PAUSED, current_period_end=RESUME_AT, pause_notice_at=PAUSE_NOTICE)
    assert next_action_at(t) == PAUSE_NOTICE
    assert due_action(t, PAUSE_NOTICE - US) is None
    assert due_action(t, PAUSE_NOTICE) is Due.PAUSE_NOTICE
    assert due_action(t, RESUME_AT) is Due.RESUME
    sent = timeline(Status.PAUSED, current_period_end=RESUME_AT)
    assert next_action_at(sent) == RESUME_AT
    assert due_action(sent, RESUME_AT - US) is None
    assert due_action(sent, RESUME_AT) is Due.RESUME


def test_paused_and_canceling_ends_when_the_pause_would_have_resumed() -> None:
    t = timeline(Status.PAUSED, current_period_end=RESUME_AT, cancel_at_period_end=True)
    assert due_action(t, RESUME_AT) is Due.END_CANCELED


def test_a_store_pause_is_never_due_in_tenure() -> None:
    t = timeline(Status.PAUSED, current_period_end=RESUME_AT, store_managed=True)
    assert next_action_at(t) is None
    assert due_action(t, RESUME_AT + timedelta(days=365)) is None


def test_an_unaccepted_opt_in_price_change_ends_at_the_renewal_it_would_bill() -> None:
    t = Timeline(
        status=Status.ACTIVE,
        current_period_end=PERIOD_END,
        trial_end=None,
        trial_notice_sent=False,
        cancel_at_period_end=False,
        incomplete_expires_at=None,
        grace_ends_at=None,
        price_declined_at=PERIOD_END,
    )
    assert next_action_at(t) == PERIOD_END
    assert due_action(t, PERIOD_END) is Due.END_PRICE_DECLINED
    later = Timeline(
        status=Status.ACTIVE,
        current_period_end=PERIOD_END,
        trial_end=None,
        trial_notice_sent=False,
        cancel_at_period_end=False,
        incomplete_expires_at=None,
        grace_ends_at=None,
        price_declined_at=PERIOD_END + US,
    )
    assert due_action(later, PERIOD_END) is Due.RENEW  # the old price is still noticed
    paused = timeline(Status.PAUSED, current_period_end=RESUME_AT)
    assert due_action(paused, RESUME_AT) is Due.RESUME


# --------------------------------------------------------------------------- terminal


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_status_never_due(status: Status) -> None:
    t = timeline(
        status,
        trial_end=TRIAL_END,
        incomplete_expires_at=START + INCOMPLETE_WINDOW,
        grace_ends_at=GRACE_END,
        hold_ends_at=HOLD_END,
        next_retry_at=RETRY_AT,
        cancel_at_period_end=True,
    )
    assert next_action_at(t) is None
    for now in (START, NOTICE_AT, PERIOD_END, GRACE_END, PERIOD_END + timedelta(days=3650)):
        assert due_action(t, now) is None


# --------------------------------------------------------------------------- property

# Offsets from START in microseconds, within ~60 days, so the 1 us boundary is exercised.
_OFFSET = st.integers(min_value=-5 * 86_400_000_000, max_value=60 * 86_400_000_000)


def _at(offset_us: int) -> datetime:
    return START + timedelta(microseconds=offset_us)


@st.composite
def timelines(draw: st.DrawFn) -> Timeline:
    status = draw(st.sampled_from(list(Status)))
    period_end = _at(draw(_OFFSET))
    trial_end: datetime | None = None
    incomplete_expires_at: datetime | None = None
    grace_ends_at: datetime | None = None
    hold_ends_at: datetime | None = None
    next_retry_at: datetime | None = None
    pause_notice_at: datetime | None = None
    if status is Status.TRIALING:
        # Usually the trial ends with the period; sometimes not set or elsewhere.
        trial_end = draw(st.one_of(st.just(period_end), st.none(), _OFFSET.map(_at)))
    elif status is Status.ACTIVE:
        trial_end = draw(st.one_of(st.none(), _OFFSET.map(_at)))
    elif status is Status.PAUSED:
        pause_notice_at = draw(st.one_of(st.none(), _OFFSET.map(_at)))
    elif status is Status.INCOMPLETE:
        incomplete_expires_at = draw(st.one_of(_OFFSET.map(_at), st.none()))
    elif status in (Status.PAST_DUE, Status.ON_HOLD):
        grace_ends_at = draw(st.one_of(_OFFSET.map(_at), st.none()))
        hold_ends_at = draw(st.one_of(_OFFSET.map(_at), st.none()))
        next_retry_at = draw(st.one_of(_OFFSET.map(_at), st.none()))
    else:  # terminal: leftovers from earlier life must not make anything due
        trial_end = draw(st.one_of(st.none(), _OFFSET.map(_at)))
        incomplete_expires_at = draw(st.one_of(st.none(), _OFFSET.map(_at)))
        grace_ends_at = draw(st.one_of(st.none(), _OFFSET.map(_at)))
        hold_ends_at = draw(st.one_of(st.none(), _OFFSET.map(_at)))
        next_retry_at = draw(st.one_of(st.none(), _OFFSET.map(_at)))
    return Timeline(
        status=status,
        current_period_end=period_end,
        trial_end=trial_end,
        trial_notice_sent=draw(st.booleans()),
        cancel_at_period_end=draw(st.booleans()),
        incomplete_expires_at=incomplete_expires_at,
        grace_ends_at=grace_ends_at,
        hold_ends_at=hold_ends_at,
        next_retry_at=next_retry_at,
        has_payment_method=draw(st.booleans()),
        renews=draw(st.booleans()),
        pause_at=draw(st.one_of(st.none(), st.just(period_end))),
        pause_notice_at=pause_notice_at,
        store_managed=draw(st.booleans()) and status is Status.PAUSED,
        price_declined_at=draw(st.one_of(st.none(), _OFFSET.map(_at))),
    )


@settings(max_examples=1000, deadline=None)
@given(t=timelines(), now_offset=_OFFSET)
def test_next_action_at_is_exactly_the_first_moment_due_action_fires(
    t: Timeline, now_offset: int
) -> None:
    now = _at(now_offset)
    at = next_action_at(t)
    if at is None:
        assert due_action(t, now) is None
    else:
        assert due_action(t, at) is not None
        assert due_action(t, at - US) is None
        # Monotone: once due, still due later; before the schedule point, never due.
        if now >= at:
            assert due_action(t, now) is not None
        else:
            assert due_action(t, now) is None


def test_trialing_without_payment_method_expires_at_trial_end_instead_of_renewing() -> None:
    t = Timeline(**{**_fields(trialing()), "has_payment_method": False})
    end = t.current_period_end
    assert next_action_at(t) is not None
    assert due_action(t, end - US) in (None, Due.TRIAL_NOTICE)
    assert due_action(t, end) is Due.TRIAL_EXPIRY
    # Set to cancel, it simply ends canceled; active subscriptions never trial-expire.
    assert due_action(Timeline(**{**_fields(t), "cancel_at_period_end": True}), end) is (
        Due.END_CANCELED
    )
    active = Timeline(**{**_fields(t), "status": Status.ACTIVE})
    assert due_action(active, end) is Due.RENEW


def test_scheduled_starts_at_its_period_end_which_is_the_start_at() -> None:
    t = timeline(Status.SCHEDULED, current_period_end=START)
    assert next_action_at(t) == START
    assert due_action(t, START - US) is None
    assert due_action(t, START) is Due.START


def test_a_prepaid_subscription_gets_a_notice_a_week_before_and_ends_without_renewing() -> None:
    t = Timeline(**{**_fields(timeline(Status.ACTIVE)), "renews": False})
    notice = PERIOD_END - timedelta(days=7)
    assert next_action_at(t) == notice
    assert due_action(t, notice - US) is None
    assert due_action(t, notice) is Due.EXPIRY_NOTICE
    sent = Timeline(**{**_fields(t), "trial_notice_sent": True})
    assert next_action_at(sent) == PERIOD_END
    assert due_action(sent, PERIOD_END - US) is None
    assert due_action(sent, PERIOD_END) is Due.PREPAID_END
    canceling = Timeline(**{**_fields(t), "cancel_at_period_end": True})
    assert (next_action_at(canceling), due_action(canceling, PERIOD_END)) == (
        PERIOD_END,
        Due.END_CANCELED,
    )
