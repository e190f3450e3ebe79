"""The dunning policy and its rules. Pure: no I/O, no clock.

A failed renewal opens a dunning case at ``started_at``. From then on:

- the **retry ladder** retries the invoice at ``started_at + d`` for each ``d`` in
  ``retry_days`` (soft declines only: a hard decline waits for a new payment method);
- **grace** (``grace_days``): the subscription is ``past_due`` and keeps its access;
- **hold** (``hold_days`` after grace): the subscription is ``on_hold``, access falls back to
  Free, retries go on;
- **exhaustion** at the end of the hold: the subscription expires (``payment_failed``).

A payment at any point recovers the subscription; ``recovery`` decides which period the payment
buys (see :class:`Recovery`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from tenure.kernel.calendar import Interval, add_interval

# The longest a policy may run (Apple retries for up to 60 days; a year is generous).
MAX_DAYS: Final = 365


class Recovery(StrEnum):
    # The billing anchor is kept: the payment buys the period that failed, and the next renewal
    # happens on the usual day (a recovery after that day renews at once).
    KEEP_ANCHOR = "keep_anchor"
    # The App Store's behaviour: the period restarts at the recovery date, which becomes the
    # new billing anchor.
    RESTART_PERIOD = "restart_period"


class Phase(StrEnum):
    GRACE = "grace"
    HOLD = "hold"
    EXHAUSTED = "exhausted"


# Declines that will not succeed on a retry of the same payment method.
HARD_DECLINES: Final[frozenset[str]] = frozenset(
    {
        "card_declined",
        "expired_card",
        "lost_card",
        "stolen_card",
        "invalid_payment_method",
        "do_not_honor",
        # Off-session, nobody can authenticate: wait for the customer (billing_issue).
        "authentication_required",
    }
)
# Declines that may succeed later on the same payment method, whatever the provider says.
SOFT_DECLINES: Final[frozenset[str]] = frozenset(
    {"insufficient_funds", "processing_error", "try_again_later", "rate_limited"}
)


class PolicyError(ValueError):
    """A policy whose values make no sense; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class DunningPolicy:
    retry_days: tuple[int, ...] = (1, 3, 5, 7, 14)
    grace_days: int = 7
    hold_days: int = 30
    recovery: Recovery = Recovery.KEEP_ANCHOR
    # A payment while on hold (no access): restart the period at the recovery date and credit
    # the days of the hold (the default), or keep the anchor like a recovery during grace.
    recovery_during_hold: Recovery = Recovery.RESTART_PERIOD

    def __post_init__(self) -> None:
        problems = policy_problems(self.retry_days, self.grace_days, self.hold_days)
        if problems:
            raise PolicyError(problems)

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.grace_days)

    @property
    def hold(self) -> timedelta:
        return timedelta(days=self.hold_days)

    def as_dict(self) -> dict[str, Any]:
        """A JSON snapshot, kept on each dunning case so a later config change never moves it."""
        return {
            "retry_days": list(self.retry_days),
            "grace_days": self.grace_days,
            "hold_days": self.hold_days,
            "recovery": self.recovery.value,
            "recovery_during_hold": self.recovery_during_hold.value,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DunningPolicy:
        return cls(
            retry_days=tuple(int(day) for day in raw["retry_days"]),
            grace_days=int(raw["grace_days"]),
            hold_days=int(raw["hold_days"]),
            recovery=Recovery(raw["recovery"]),
            # Cases opened before this setting existed recover on hold as during grace.
            recovery_during_hold=Recovery(raw.get("recovery_during_hold", raw["recovery"])),
        )


def policy_problems(retry_days: tuple[int, ...], grace_days: int, hold_days: int) -> list[str]:
    """Every reason the values are not a usable policy (empty when they are)."""
    problems = []
    for name, value in (("grace_days", grace_days), ("hold_days", hold_days)):
        if not 0 <= value <= MAX_DAYS:
            problems.append(f"{name} must be between 0 and {MAX_DAYS}, not {value}")
    if any(not 1 <= day <= MAX_DAYS for day in retry_days):
        problems.append(f"retry_days must be between 1 and {MAX_DAYS}: {list(retry_days)}")
    if list(retry_days) != sorted(set(retry_days)):
        problems.append(f"retry_days must be strictly increasing: {list(retry_days)}")
    return problems


DEFAULT_POLICY: Final = DunningPolicy()


@dataclass(frozen=True, slots=True)
class Clocks:
    """The fixed moments of one dunning case."""

    started_at: datetime
    grace_ends_at: datetime
    hold_ends_at: datetime  # equals grace_ends_at when the policy has no hold

    def phase(self, now: datetime) -> Phase:
        if now >= self.hold_ends_at:
            return Phase.EXHAUSTED
        return Phase.GRACE if now < self.grace_ends_at else Phase.HOLD


def open_case(policy: DunningPolicy, failed_at: datetime) -> Clocks:
    grace_ends_at = failed_at + policy.grace
    return Clocks(failed_at, grace_ends_at, grace_ends_at + policy.hold)


AUTHENTICATION_REQUIRED: Final = "authentication_required"


def billing_issue_reason(decline_code: str | None) -> str:
    """What a client should do about an unpaid renewal: ``authentication_required`` (bring the
    customer on-session to authenticate) or ``payment_failed`` (retries, or a new method)."""
    return AUTHENTICATION_REQUIRED if decline_code == AUTHENTICATION_REQUIRED else "payment_failed"


def is_hard_decline(decline_code: str | None, provider_retryable: bool) -> bool:
    """Hard: retrying the same payment method is pointless; the customer must give a new one.

    Known codes decide; for an unknown code the provider's own ``retryable`` flag does.
    """
    if decline_code in HARD_DECLINES:
        return True
    if decline_code in SOFT_DECLINES:
        return False
    return not provider_retryable


def ladder(policy: DunningPolicy, started_at: datetime) -> list[datetime]:
    return [started_at + timedelta(days=day) for day in policy.retry_days]


def next_retry_at(policy: DunningPolicy, clocks: Clocks, after: datetime) -> datetime | None:
    """The first ladder step strictly after ``after`` and before the case is exhausted."""
    for step in ladder(policy, clocks.started_at):
        if after < step < clocks.hold_ends_at:
            return step
    return None


def retry_after_failure(
    policy: DunningPolicy,
    clocks: Clocks,
    *,
    failed_at: datetime,
    decline_code: str | None,
    provider_retryable: bool,
) -> datetime | None:
    """When to try again after a failed attempt; ``None``: wait for a new payment method."""
    if is_hard_decline(decline_code, provider_retryable):
        return None
    return next_retry_at(policy, clocks, failed_at)


@dataclass(frozen=True, slots=True)
class Period:
    billing_anchor: datetime
    start: datetime
    end: datetime


def recovered_period(
    policy: DunningPolicy,
    current: Period,
    *,
    recovered_at: datetime,
    interval: Interval,
    interval_count: int,
    on_hold: bool = False,
) -> Period:
    """The subscription's period once its failed invoice is paid at ``recovered_at``.

    During grace ``policy.recovery`` decides; on hold ``policy.recovery_during_hold``, whose
    ``restart_period`` ends the period at the recovery date, so the next one (anchored there)
    is invoiced at once; the flow credits the hold's days on the paid invoice."""
    rule = policy.recovery_during_hold if on_hold else policy.recovery
    if rule is Recovery.KEEP_ANCHOR:
        return current
    if on_hold:
        return Period(billing_anchor=recovered_at, start=recovered_at, end=recovered_at)
    return Period(
        billing_anchor=recovered_at,
        start=recovered_at,
        end=add_interval(recovered_at, interval, interval_count),
    )


@dataclass(frozen=True, slots=True)
class PolicyBook:
    """The default policy with overrides per market, per product, and per market and product.

    The most specific one wins: (market, product), then product, then market, then default.
    """

    default: DunningPolicy = DEFAULT_POLICY
    by_market: Mapping[str, DunningPolicy] = field(default_factory=dict)
    by_product: Mapping[str, DunningPolicy] = field(default_factory=dict)
    by_market_product: Mapping[tuple[str, str], DunningPolicy] = field(default_factory=dict)

    def for_subscription(self, market: str, product: str) -> DunningPolicy:
        return (
            self.by_market_product.get((market, product))
            or self.by_product.get(product)
            or self.by_market.get(market)
            or self.default
        )
