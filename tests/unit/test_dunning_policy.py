"""The dunning policy: ladder, grace, hold, decline classes, recovery and overrides. Pure.

Worked dates: a renewal fails 2025-02-15 09:00 UTC. With the defaults, retries fall on
02-16, 02-18, 02-20, 02-22 and 03-01; grace ends 02-22 09:00; the hold ends 03-24 09:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenure.catalog.loader import CatalogError, default_catalog_path, load_catalog, parse_catalog
from tenure.dunning.config import policy_book
from tenure.dunning.policy import (
    DEFAULT_POLICY,
    HARD_DECLINES,
    SOFT_DECLINES,
    Clocks,
    DunningPolicy,
    Period,
    Phase,
    PolicyBook,
    PolicyError,
    Recovery,
    is_hard_decline,
    ladder,
    next_retry_at,
    open_case,
    recovered_period,
    retry_after_failure,
)
from tenure.kernel.calendar import Interval

FAILED = datetime(2025, 2, 15, 9, tzinfo=UTC)
US = timedelta(microseconds=1)
D = timedelta(days=1)


def test_defaults_are_ladder_1_3_5_7_14_grace_7_hold_30_keep_anchor() -> None:
    assert DEFAULT_POLICY.retry_days == (1, 3, 5, 7, 14)
    assert (DEFAULT_POLICY.grace_days, DEFAULT_POLICY.hold_days) == (7, 30)
    assert DEFAULT_POLICY.recovery is Recovery.KEEP_ANCHOR


def test_open_case_grace_and_hold_end_on_the_worked_dates() -> None:
    clocks = open_case(DEFAULT_POLICY, FAILED)
    assert clocks.grace_ends_at == datetime(2025, 2, 22, 9, tzinfo=UTC)
    assert clocks.hold_ends_at == datetime(2025, 3, 24, 9, tzinfo=UTC)


def test_phase_boundaries_are_half_open() -> None:
    clocks = open_case(DEFAULT_POLICY, FAILED)
    assert clocks.phase(FAILED) is Phase.GRACE
    assert clocks.phase(clocks.grace_ends_at - US) is Phase.GRACE
    assert clocks.phase(clocks.grace_ends_at) is Phase.HOLD
    assert clocks.phase(clocks.hold_ends_at - US) is Phase.HOLD
    assert clocks.phase(clocks.hold_ends_at) is Phase.EXHAUSTED


def test_zero_grace_is_hold_at_once_and_zero_hold_ends_with_grace() -> None:
    no_grace = open_case(DunningPolicy(grace_days=0), FAILED)
    assert no_grace.phase(FAILED) is Phase.HOLD
    no_hold = open_case(DunningPolicy(hold_days=0), FAILED)
    assert no_hold.hold_ends_at == no_hold.grace_ends_at
    assert no_hold.phase(no_hold.grace_ends_at) is Phase.EXHAUSTED


def test_ladder_steps_after_each_failure_walk_the_whole_ladder() -> None:
    clocks = open_case(DEFAULT_POLICY, FAILED)
    steps = []
    at = FAILED
    while (step := next_retry_at(DEFAULT_POLICY, clocks, at)) is not None:
        steps.append(step)
        at = step
    assert steps == [FAILED + D * n for n in (1, 3, 5, 7, 14)]
    assert steps == ladder(DEFAULT_POLICY, FAILED)


def test_a_failure_between_steps_resumes_at_the_next_step() -> None:
    clocks = open_case(DEFAULT_POLICY, FAILED)
    # A new card on day 4 failed softly: the ladder goes on at day 5.
    assert next_retry_at(DEFAULT_POLICY, clocks, FAILED + 4 * D) == FAILED + 5 * D
    assert next_retry_at(DEFAULT_POLICY, clocks, FAILED + 5 * D - US) == FAILED + 5 * D
    assert next_retry_at(DEFAULT_POLICY, clocks, FAILED + 5 * D) == FAILED + 7 * D
    assert next_retry_at(DEFAULT_POLICY, clocks, FAILED + 14 * D) is None


def test_no_retry_at_or_after_the_end_of_the_hold() -> None:
    policy = DunningPolicy(retry_days=(1, 5, 10), grace_days=3, hold_days=2)  # ends day 5
    clocks = open_case(policy, FAILED)
    assert next_retry_at(policy, clocks, FAILED) == FAILED + D
    assert next_retry_at(policy, clocks, FAILED + D) is None


def test_an_empty_ladder_never_retries() -> None:
    policy = DunningPolicy(retry_days=())
    assert next_retry_at(policy, open_case(policy, FAILED), FAILED) is None


@pytest.mark.parametrize("code", sorted(HARD_DECLINES))
@pytest.mark.parametrize("retryable", [True, False])
def test_hard_declines_are_never_retried_on_the_same_method(code: str, retryable: bool) -> None:
    assert is_hard_decline(code, retryable) is True
    clocks = open_case(DEFAULT_POLICY, FAILED)
    assert (
        retry_after_failure(
            DEFAULT_POLICY, clocks, failed_at=FAILED, decline_code=code, provider_retryable=True
        )
        is None
    )


@pytest.mark.parametrize("code", sorted(SOFT_DECLINES))
@pytest.mark.parametrize("retryable", [True, False])
def test_soft_declines_follow_the_ladder(code: str, retryable: bool) -> None:
    assert is_hard_decline(code, retryable) is False
    clocks = open_case(DEFAULT_POLICY, FAILED)
    at = retry_after_failure(
        DEFAULT_POLICY, clocks, failed_at=FAILED, decline_code=code, provider_retryable=retryable
    )
    assert at == FAILED + D


@pytest.mark.parametrize(("retryable", "hard"), [(True, False), (False, True)])
def test_unknown_codes_follow_the_providers_retryable_flag(retryable: bool, hard: bool) -> None:
    assert is_hard_decline("something_new", retryable) is hard
    assert is_hard_decline(None, retryable) is hard


def test_hard_and_soft_sets_are_disjoint_and_name_the_sandbox_cards() -> None:
    assert not HARD_DECLINES & SOFT_DECLINES
    assert {"card_declined", "expired_card", "lost_card"} <= HARD_DECLINES
    assert "insufficient_funds" in SOFT_DECLINES


PERIOD = Period(
    billing_anchor=datetime(2025, 1, 15, 9, tzinfo=UTC),
    start=datetime(2025, 2, 15, 9, tzinfo=UTC),
    end=datetime(2025, 3, 15, 9, tzinfo=UTC),
)


def test_keep_anchor_recovers_the_period_that_failed() -> None:
    at = datetime(2025, 3, 20, 9, tzinfo=UTC)
    kept = recovered_period(
        DEFAULT_POLICY, PERIOD, recovered_at=at, interval=Interval.MONTH, interval_count=1
    )
    assert kept == PERIOD


def test_restart_period_starts_a_new_period_and_anchor_at_recovery_like_the_app_store() -> None:
    policy = DunningPolicy(recovery=Recovery.RESTART_PERIOD)
    at = datetime(2025, 3, 20, 9, tzinfo=UTC)
    restarted = recovered_period(
        policy, PERIOD, recovered_at=at, interval=Interval.MONTH, interval_count=1
    )
    assert restarted == Period(at, at, datetime(2025, 4, 20, 9, tzinfo=UTC))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"grace_days": -1}, "grace_days"),
        ({"hold_days": 366}, "hold_days"),
        ({"retry_days": (0, 3)}, "between 1"),
        ({"retry_days": (3, 3)}, "strictly increasing"),
        ({"retry_days": (5, 3)}, "strictly increasing"),
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        DunningPolicy(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_policy_round_trips_through_its_json_snapshot() -> None:
    policy = DunningPolicy((2, 4), 3, 16, Recovery.RESTART_PERIOD)
    assert DunningPolicy.from_dict(policy.as_dict()) == policy


def test_policy_book_most_specific_wins() -> None:
    m, p, mp = DunningPolicy(grace_days=1), DunningPolicy(grace_days=2), DunningPolicy(grace_days=3)
    book = PolicyBook(DEFAULT_POLICY, {"US": m}, {"family": p}, {("US", "family"): mp})
    assert book.for_subscription("US", "family") is mp
    assert book.for_subscription("SE", "family") is p
    assert book.for_subscription("US", "duo") is m
    assert book.for_subscription("SE", "duo") is DEFAULT_POLICY


@settings(max_examples=300, deadline=None)
@given(
    days=st.lists(st.integers(1, 60), unique=True, max_size=8).map(lambda d: tuple(sorted(d))),
    grace=st.integers(0, 30),
    hold=st.integers(0, 60),
    after=st.integers(0, 100 * 24),
)
def test_next_retry_is_a_ladder_step_after_the_failure_and_inside_the_case(
    days: tuple[int, ...], grace: int, hold: int, after: int
) -> None:
    policy = DunningPolicy(days, grace, hold)
    clocks: Clocks = open_case(policy, FAILED)
    now = FAILED + timedelta(hours=after)
    step = next_retry_at(policy, clocks, now)
    candidates = [s for s in ladder(policy, FAILED) if now < s < clocks.hold_ends_at]
    assert step == (min(candidates) if candidates else None)


# --- The catalog's [dunning] table --------------------------------------------------------

BASE = default_catalog_path().read_text(encoding="utf-8")


def test_the_default_catalog_uses_the_built_in_policy() -> None:
    book = policy_book(load_catalog(default_catalog_path()))
    assert book.for_subscription("SE", "premium_individual") == DEFAULT_POLICY


def test_catalog_default_and_overrides_per_market_product_and_both() -> None:
    text = (
        BASE
        + """
[dunning]
retry_days = [2, 4]
grace_days = 3

[dunning.overrides.us]
market = "US"
hold_days = 0

[dunning.overrides.family]
product = "premium_family"
recovery = "restart_period"

[dunning.overrides.jp_student]
market = "JP"
product = "premium_student"
grace_days = 16
"""
    )
    book = policy_book(parse_catalog(text, "shop.toml"))
    assert book.for_subscription("SE", "premium_individual") == DunningPolicy((2, 4), 3, 30)
    assert book.for_subscription("US", "premium_individual") == DunningPolicy((2, 4), 3, 0)
    assert book.for_subscription("US", "premium_family").recovery is Recovery.RESTART_PERIOD
    assert book.for_subscription("JP", "premium_student").grace_days == 16


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        (
            "[dunning]\ngrace_days = -2\n",
            "shop.toml: dunning: grace_days must be between 0 and 365",
        ),
        ("[dunning]\nretry_days = [3, 1]\n", "shop.toml: dunning: retry_days must be strictly"),
        ("[dunning]\nretry_days = 3\n", "shop.toml: dunning: retry_days must be an array"),
        ('[dunning]\nrecovery = "later"\n', 'shop.toml: dunning: recovery "later" must be one of'),
        ("[dunning]\ngrace = 3\n", 'shop.toml: dunning: unknown key "grace"'),
        (
            '[dunning.overrides.x]\nmarket = "ZZ"\ngrace_days = 1\n',
            'shop.toml: dunning.overrides.x: market "ZZ" is not defined',
        ),
        (
            '[dunning.overrides.x]\nproduct = "nope"\ngrace_days = 1\n',
            'shop.toml: dunning.overrides.x: product "nope" is not defined',
        ),
        (
            "[dunning.overrides.x]\ngrace_days = 1\n",
            "shop.toml: dunning.overrides.x: an override needs",
        ),
        (
            '[dunning.overrides.x]\nmarket = "US"\n',
            "shop.toml: dunning.overrides.x: an override must set",
        ),
        (
            '[dunning.overrides.a]\nmarket = "US"\ngrace_days = 1\n'
            '[dunning.overrides.b]\nmarket = "US"\ngrace_days = 2\n',
            "shop.toml: dunning.overrides.b: covers the same market and product as",
        ),
    ],
)
def test_catalog_dunning_problems_name_file_entry_and_problem(snippet: str, problem: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog(BASE + "\n" + snippet, "shop.toml")
    assert any(line.startswith(problem) for line in info.value.problems), info.value.problems


def test_recovery_on_hold_restarts_the_period_by_default_and_grace_keeps_the_anchor() -> None:
    policy = DunningPolicy()
    assert (policy.recovery, policy.recovery_during_hold) == (
        Recovery.KEEP_ANCHOR,
        Recovery.RESTART_PERIOD,
    )
    anchor = datetime(2025, 1, 15, 9, tzinfo=UTC)
    current = Period(
        anchor, datetime(2025, 2, 15, 9, tzinfo=UTC), datetime(2025, 3, 15, 9, tzinfo=UTC)
    )
    at = datetime(2025, 3, 1, 12, tzinfo=UTC)
    kwargs = {"recovered_at": at, "interval": Interval.MONTH, "interval_count": 1}
    assert recovered_period(policy, current, **kwargs) == current
    # On hold the period ends at the recovery: the next one, anchored there, is due at once.
    assert recovered_period(policy, current, on_hold=True, **kwargs) == Period(at, at, at)
    keep = DunningPolicy(recovery_during_hold=Recovery.KEEP_ANCHOR)
    assert recovered_period(keep, current, on_hold=True, **kwargs) == current
    # A case opened before the setting existed recovers on hold as its grace rule says.
    old = {"retry_days": [1], "grace_days": 7, "hold_days": 30, "recovery": "keep_anchor"}
    assert DunningPolicy.from_dict(old).recovery_during_hold is Recovery.KEEP_ANCHOR
    assert DunningPolicy.from_dict(policy.as_dict()) == policy


def test_recovery_during_hold_is_read_from_the_catalog_and_checked() -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    shop = text + '\n[dunning]\nrecovery_during_hold = "keep_anchor"\n'
    assert policy_book(parse_catalog(shop, "shop.toml")).default.recovery_during_hold is (
        Recovery.KEEP_ANCHOR
    )
    with pytest.raises(CatalogError) as info:
        parse_catalog(text + '\n[dunning]\nrecovery_during_hold = "later"\n', "shop.toml")
    assert info.value.problems == [
        'shop.toml: dunning: recovery_during_hold "later" must be one of: keep_anchor, '
        "restart_period"
    ]
