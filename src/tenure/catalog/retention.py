"""Retention levers as catalog data: pause rules (and, per docs/retention.md, the offers).

``[retention.pause]`` holds the default pause rule; ``[retention.pause.overrides.<name>]``
tables replace some of its keys for a market, a product or both (the most specific match wins:
market and product, then product, then market). Validation reports every problem through the
loader's collector, never raising on the first.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

Report = Callable[[str, str], None]  # (entry, message)

PAUSE_STARTS: Final = ("period_end", "now")
_PAUSE_KEYS: Final = (
    "allowed",
    "max_periods",
    "max_pauses",
    "window_days",
    "annual",
    "start",
    "allow_now",
    "notice_days",
)
_INTS: Final = {
    "max_periods": (1, 24),
    "max_pauses": (1, 12),
    "window_days": (1, 3650),
    "notice_days": (0, 90),
}
_BOOLS: Final = ("allowed", "annual", "allow_now")


@dataclass(frozen=True, slots=True)
class PauseRule:
    """How a web subscription may pause (docs/retention.md#pause-and-resume)."""

    name: str = "default"
    market: str | None = None
    product: str | None = None
    allowed: bool = True
    max_periods: int = 3  # the longest pause, in billing periods of the plan
    max_pauses: int = 2  # pauses started (or scheduled) within window_days
    window_days: int = 365
    annual: bool = False  # whether plans billed yearly may pause
    start: str = "period_end"  # where a pause starts when the request does not say
    allow_now: bool = False  # whether a pause may start now (unused time credited)
    notice_days: int = 7  # subscription.pause_ending this many days before the resume


@dataclass(frozen=True, slots=True)
class Retention:
    pause: PauseRule = field(default_factory=PauseRule)
    pause_overrides: tuple[PauseRule, ...] = ()

    def pause_rule(self, market: str, product: str) -> PauseRule:
        best, rank = self.pause, 0
        for rule in self.pause_overrides:
            if rule.market not in (None, market) or rule.product not in (None, product):
                continue
            score = (2 if rule.product else 0) + (1 if rule.market else 0)
            if score > rank:
                best, rank = rule, score
        return best


_TOP_KEYS: Final = ("pause",)


def parse_retention(
    raw: object, report: Report, markets: Mapping[str, Any], products: Mapping[str, Any]
) -> Retention:
    if raw is None:
        return Retention()
    if not isinstance(raw, dict):
        report("retention", "must be a table")
        return Retention()
    _unknown(report, "retention", raw, _TOP_KEYS)
    pause_raw = raw.get("pause", {})
    if not isinstance(pause_raw, dict):
        report("retention.pause", "must be a table")
        return Retention()
    _unknown(report, "retention.pause", pause_raw, (*_PAUSE_KEYS, "overrides"))
    default = dataclasses.replace(
        PauseRule(), **_pause_fields(report, "retention.pause", pause_raw)
    )
    overrides: list[PauseRule] = []
    raw_overrides = pause_raw.get("overrides", {})
    if not isinstance(raw_overrides, dict):
        report("retention.pause.overrides", "must be a table of named overrides")
        raw_overrides = {}
    for name, entry in raw_overrides.items():
        where = f"retention.pause.overrides.{name}"
        if not isinstance(entry, dict):
            report(where, "must be a table")
            continue
        _unknown(report, where, entry, ("market", "product", *_PAUSE_KEYS))
        market, product = entry.get("market"), entry.get("product")
        if market is None and product is None:
            report(where, 'an override needs "market", "product" or both')
        if market is not None and market not in markets:
            report(where, f'market "{market}" is not defined in [markets]')
        if product is not None and product not in products:
            report(where, f'product "{product}" is not defined in [products]')
        values = _pause_fields(report, where, entry)
        overrides.append(
            dataclasses.replace(default, name=name, market=market, product=product, **values)
        )
    return Retention(pause=default, pause_overrides=tuple(overrides))


def _pause_fields(report: Report, where: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, (low, high) in _INTS.items():
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                report(where, f"{key} must be an integer between {low} and {high}, not {value!r}")
            else:
                values[key] = value
    for key in _BOOLS:
        if key in raw:
            if isinstance(raw[key], bool):
                values[key] = raw[key]
            else:
                report(where, f"{key} must be true or false, not {raw[key]!r}")
    if "start" in raw:
        if raw["start"] in PAUSE_STARTS:
            values["start"] = raw["start"]
        else:
            report(where, f'start "{raw["start"]}" must be one of: {", ".join(PAUSE_STARTS)}')
    return values


def _unknown(report: Report, where: str, raw: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"allowed keys: {', '.join(allowed)}"
            report(where, f'unknown key "{key}" ({hint})')
