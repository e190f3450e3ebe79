"""The catalog's optional ``[lifecycle]`` table: per-market and per-product lifecycle choices.

```toml
[lifecycle]
trial_requires_payment_method = true

[lifecycle.overrides.us_trials_without_card]
market = "US"
product = "premium_individual"
trial_requires_payment_method = false
```

Read by :func:`parse_lifecycle`, which reports every problem through the loader's ``add``
callback (file, entry, reason) and never raises; :meth:`Catalog.lifecycle_for` resolves the
most specific rule.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from tenure.catalog.model import LifecycleRule

# Each setting and what it accepts: ``bool`` or the allowed strings.
SETTINGS: Final[Mapping[str, type[bool] | tuple[str, ...]]] = {
    "trial_requires_payment_method": bool,
    "first_period": ("prorate", "free"),
    "cancel_now_credit": ("none", "credit", "refund"),
}
_SCOPE_KEYS: Final = ("market", "product")

Report = Callable[[str, str], None]


def _unknown(key: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f'did you mean "{close[0]}"?' if close else f"allowed keys: {', '.join(allowed)}"
    return f'unknown key "{key}" ({hint})'


def _settings(entry: str, raw: Mapping[str, Any], report: Report) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, kind in SETTINGS.items():
        if key not in raw:
            continue
        value = raw[key]
        if kind is bool:
            if not isinstance(value, bool):
                report(entry, f"{key} must be true or false, not {value!r}")
                continue
        elif isinstance(kind, tuple) and value not in kind:
            report(entry, f'{key} "{value}" must be one of: {", ".join(kind)}')
            continue
        values[key] = value
    return values


def parse_lifecycle(
    document: Mapping[str, Any],
    *,
    markets: Collection[str],
    products: Collection[str],
    report: Report,
) -> tuple[LifecycleRule, tuple[LifecycleRule, ...]]:
    raw = document.get("lifecycle")
    if raw is None:
        return LifecycleRule(), ()
    if not isinstance(raw, dict):
        report("lifecycle", "must be a table")
        return LifecycleRule(), ()
    allowed = (*SETTINGS, "overrides")
    for key in raw:
        if key not in allowed:
            report("lifecycle", _unknown(key, allowed))
    default = LifecycleRule(**_settings("lifecycle", raw, report))
    overrides: list[LifecycleRule] = []
    seen: dict[tuple[str | None, str | None], str] = {}
    raw_overrides = raw.get("overrides", {})
    if not isinstance(raw_overrides, dict):
        report("lifecycle.overrides", "must be a table of named overrides")
        return default, ()
    for name, entry in raw_overrides.items():
        rule = _override(f"lifecycle.overrides.{name}", name, entry, markets, products, report)
        if rule is None:
            continue
        key = (rule.market, rule.product)
        if key in seen:
            report(
                f"lifecycle.overrides.{name}",
                f"covers the same market and product as lifecycle.overrides.{seen[key]}",
            )
        seen.setdefault(key, name)
        overrides.append(rule)
    return default, tuple(overrides)


def _override(
    label: str,
    name: str,
    entry: object,
    markets: Collection[str],
    products: Collection[str],
    report: Report,
) -> LifecycleRule | None:
    if not isinstance(entry, dict):
        report(label, "must be a table")
        return None
    allowed = (*_SCOPE_KEYS, *SETTINGS)
    for key in entry:
        if key not in allowed:
            report(label, _unknown(key, allowed))
    market, product = entry.get("market"), entry.get("product")
    if market is None and product is None:
        report(label, 'an override needs "market", "product" or both')
    if market is not None and market not in markets:
        report(label, f'market "{market}" is not defined in [markets]')
    if product is not None and product not in products:
        report(label, f'product "{product}" is not defined in [products]')
    if not any(key in entry for key in SETTINGS):
        report(label, f"an override must set at least one of: {', '.join(SETTINGS)}")
    return LifecycleRule(name, market, product, **_settings(label, entry, report))
