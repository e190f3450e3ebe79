"""The dunning policies in force: built-in defaults, overridden by the catalog's [dunning]."""

from __future__ import annotations

from dataclasses import replace

from tenure.catalog.model import Catalog, DunningRule
from tenure.dunning.policy import DEFAULT_POLICY, DunningPolicy, PolicyBook, Recovery


def _apply(base: DunningPolicy, rule: DunningRule) -> DunningPolicy:
    return replace(
        base,
        retry_days=base.retry_days if rule.retry_days is None else rule.retry_days,
        grace_days=base.grace_days if rule.grace_days is None else rule.grace_days,
        hold_days=base.hold_days if rule.hold_days is None else rule.hold_days,
        recovery=base.recovery if rule.recovery is None else Recovery(rule.recovery),
        recovery_during_hold=base.recovery_during_hold
        if rule.recovery_during_hold is None
        else Recovery(rule.recovery_during_hold),
    )


def policy_book(catalog: Catalog) -> PolicyBook:
    """Overrides inherit what they leave out from the catalog's default, not from each other."""
    default = _apply(DEFAULT_POLICY, catalog.dunning)
    by_market: dict[str, DunningPolicy] = {}
    by_product: dict[str, DunningPolicy] = {}
    by_both: dict[tuple[str, str], DunningPolicy] = {}
    for rule in catalog.dunning_overrides:
        policy = _apply(default, rule)
        if rule.market and rule.product:
            by_both[(rule.market, rule.product)] = policy
        elif rule.product:
            by_product[rule.product] = policy
        elif rule.market:
            by_market[rule.market] = policy
    return PolicyBook(default, by_market, by_product, by_both)


def policy_for(catalog: Catalog, market: str, product: str) -> DunningPolicy:
    return policy_book(catalog).for_subscription(market, product)
