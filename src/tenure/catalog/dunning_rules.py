"""The catalog's ``[dunning]`` and ``[disputes]`` tables: the retry ladder, grace, hold and
recovery per market and product (docs/dunning.md), and what a lost dispute does
(docs/payments.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tenure.catalog.model import DISPUTE_POLICIES, DisputePolicy, DunningRule
from tenure.catalog.tables import Problems, References, Table, kind_of

_POLICY_KEYS: Final = ("retry_days", "grace_days", "hold_days", "recovery", "recovery_during_hold")
_DUNNING_KEYS: Final = (*_POLICY_KEYS, "overrides")
_OVERRIDE_KEYS: Final = ("market", "product", *_POLICY_KEYS)
_RECOVERY: Final = ("keep_anchor", "restart_period")
_MAX_DUNNING_DAYS: Final = 365


def _retry_days(table: Table) -> tuple[int, ...] | None:
    raw = table.raw.get("retry_days")
    if raw is None:
        return None
    days = raw if isinstance(raw, list) else None
    if days is None or not all(isinstance(d, int) and not isinstance(d, bool) for d in days):
        table.problem(f"retry_days must be an array of whole days such as [1, 3, 5], not {raw!r}")
        return None
    if any(not 1 <= day <= _MAX_DUNNING_DAYS for day in days):
        table.problem(f"retry_days must each be between 1 and {_MAX_DUNNING_DAYS}: {days}")
        return None
    if days != sorted(set(days)):
        table.problem(f"retry_days must be strictly increasing: {days}")
        return None
    return tuple(days)


def _policy_fields(table: Table) -> dict[str, Any]:
    fields: dict[str, Any] = {"retry_days": _retry_days(table)}
    for key in ("grace_days", "hold_days"):
        if key in table.raw:
            fields[key] = table.integer(key, 0, _MAX_DUNNING_DAYS)
    for key in ("recovery", "recovery_during_hold"):
        if key in table.raw:
            recovery = table.get(key, str)
            if recovery is not None and recovery not in _RECOVERY:
                table.problem(f'{key} "{recovery}" must be one of: {", ".join(_RECOVERY)}')
                recovery = None
            fields[key] = recovery
    return fields


def _dunning_override(
    name: str, raw: Mapping[str, Any], refs: References, problems: Problems
) -> DunningRule | None:
    table = Table(problems, f"dunning.overrides.{name}", raw, _OVERRIDE_KEYS)
    market = table.get("market", str, "") or None
    product = table.get("product", str, "") or None
    if market is None and product is None:
        table.problem('an override needs "market", "product" or both')
    if market is not None and market not in refs.currencies:
        table.problem(f'market "{market}" is not defined in [markets]')
    if product is not None and product not in refs.products:
        table.problem(f'product "{product}" is not defined in [products]')
    if not any(key in raw for key in _POLICY_KEYS):
        table.problem(f"an override must set at least one of: {', '.join(_POLICY_KEYS)}")
    return DunningRule(name, market, product, **_policy_fields(table))


def parse_dunning(
    document: Mapping[str, Any], refs: References, problems: Problems
) -> tuple[DunningRule, tuple[DunningRule, ...]]:
    """The optional [dunning] table: the default policy and overrides per market/product."""
    raw = document.get("dunning")
    if raw is None:
        return DunningRule(), ()
    if not isinstance(raw, dict):
        problems.add("dunning", f"must be a table, not {kind_of(raw)}")
        return DunningRule(), ()
    table = Table(problems, "dunning", raw, _DUNNING_KEYS)
    default = DunningRule(**_policy_fields(table))
    overrides: list[DunningRule] = []
    seen: dict[tuple[str | None, str | None], str] = {}
    raw_overrides = table.get("overrides", dict, {}) or {}
    for name, entry in raw_overrides.items():
        if not isinstance(entry, dict):
            problems.add(f"dunning.overrides.{name}", f"must be a table, not {kind_of(entry)}")
            continue
        rule = _dunning_override(name, entry, refs, problems)
        if rule is None:
            continue
        key = (rule.market, rule.product)
        if key in seen and key != (None, None):
            problems.add(
                f"dunning.overrides.{name}",
                f"covers the same market and product as dunning.overrides.{seen[key]}",
            )
        seen.setdefault(key, name)
        overrides.append(rule)
    return default, tuple(overrides)


def parse_disputes(document: Mapping[str, Any], problems: Problems) -> DisputePolicy:
    """The optional [disputes] table: what a lost dispute does (docs/payments.md)."""
    raw = document.get("disputes")
    if raw is None:
        return DisputePolicy()
    if not isinstance(raw, dict):
        problems.add("disputes", f"must be a table, not {kind_of(raw)}")
        return DisputePolicy()
    table = Table(problems, "disputes", raw, ("on_lost",))
    on_lost = table.get("on_lost", str, "cancel_now") or "cancel_now"
    if on_lost not in DISPUTE_POLICIES:
        table.problem(f'on_lost "{on_lost}" must be one of: {", ".join(DISPUTE_POLICIES)}')
        on_lost = "cancel_now"
    return DisputePolicy(on_lost=on_lost)
