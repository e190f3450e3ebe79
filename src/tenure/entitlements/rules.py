"""Which source decides a customer's entitlements. Pure: no I/O, no clock.

A customer can have several sources at once: their own subscription, a household they belong
to, any number of grants, and always Free. Precedence:

1. Sources rank ``subscription`` > ``household`` > ``grant`` > ``free``.
2. A lower-ranked source wins only if its product **strictly covers** the higher one's: every
   feature the higher product grants is granted at least as well (same value, or a higher
   number), and at least one feature is granted better or in addition. So a paid subscription
   wins over a grant of the same or a lesser product, and a grant of Premium Family shows over a
   Premium Individual subscription.
3. Among sources of one rank (a customer's web and store subscriptions, several grants), the
   better product wins (strictly covers); with equal products, the one without a billing
   issue, then the later end, then the lower id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from tenure.catalog.model import Catalog, FeatureValue


class Source(StrEnum):
    SUBSCRIPTION = "subscription"
    HOUSEHOLD = "household"
    GRANT = "grant"
    FREE = "free"


_RANK: Final = {Source.SUBSCRIPTION: 0, Source.HOUSEHOLD: 1, Source.GRANT: 2, Source.FREE: 3}


@dataclass(frozen=True, slots=True)
class Candidate:
    source: Source
    product: str
    status: str  # the subscription's status (own or the manager's), "active" for a grant
    ref_id: str  # subscription, household or grant id
    valid_until: datetime | None
    billing_issue: bool = False
    subscription_id: str | None = None  # the paying subscription (own or the manager's)
    household_id: str | None = None
    expires_at: datetime | None = None  # when this source ends by time alone (grants)


@dataclass(frozen=True, slots=True)
class Projected:
    """The projected value: two equal ``Projected`` mean nothing a caller sees has changed."""

    product: str
    status: str
    source: str
    subscription_id: str | None
    household_id: str | None
    grant_id: str | None
    valid_until: datetime | None
    billing_issue: bool
    expires_at: datetime | None
    addons: str = ""  # add-on products of the winning subscription, comma-separated, sorted


def enabled(features: Mapping[str, FeatureValue]) -> dict[str, FeatureValue]:
    """Features that are granted: ``false`` flags are left out so callers can test membership."""
    return {name: value for name, value in features.items() if value is not False}


def _at_least(mine: FeatureValue, theirs: FeatureValue) -> bool:
    if isinstance(mine, bool) or isinstance(theirs, bool):
        return mine == theirs
    if isinstance(mine, int) and isinstance(theirs, int):
        return mine >= theirs
    return mine == theirs


def covers(better: Mapping[str, FeatureValue], worse: Mapping[str, FeatureValue]) -> bool:
    """True when ``better`` grants everything ``worse`` does, at least as well, and more."""
    a, b = enabled(better), enabled(worse)
    if any(name not in a or not _at_least(a[name], value) for name, value in b.items()):
        return False
    return a != b


def decide(catalog: Catalog, candidates: Iterable[Candidate]) -> Projected:
    """The winning source among ``candidates`` (Free when none is usable)."""
    usable = [c for c in candidates if c.product in catalog.products]
    best: Candidate | None = None
    for candidate in sorted(usable, key=_order):
        if best is None or covers(
            catalog.products[candidate.product].features, catalog.products[best.product].features
        ):
            best = candidate
    if best is None:
        return Projected(catalog.free.id, "free", "free", None, None, None, None, False, None)
    return Projected(
        product=best.product,
        status=best.status,
        source=best.source.value,
        subscription_id=best.subscription_id,
        household_id=best.household_id,
        grant_id=best.ref_id if best.source is Source.GRANT else None,
        valid_until=best.valid_until,
        billing_issue=best.billing_issue,
        expires_at=best.expires_at,
    )


def _order(candidate: Candidate) -> tuple[int, bool, float, str]:
    # Rank first; then a source without a billing issue (a customer with a healthy web
    # subscription and a store one in grace is not asked to fix a card); then the later end
    # first, so an equal product keeps the longest.
    end = candidate.valid_until.timestamp() if candidate.valid_until else 0.0
    return (_RANK[candidate.source], candidate.billing_issue, -end, candidate.ref_id)
