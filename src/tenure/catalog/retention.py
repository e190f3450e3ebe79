"""Retention levers as catalog data: pause rules and save offers (docs/retention.md).

``[retention.pause]`` holds the default pause rule; ``[retention.pause.overrides.<name>]``
tables replace some of its keys for a market, a product or both (the most specific match wins:
market and product, then product, then market). Validation reports every problem through the
loader's collector, never raising on the first.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
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


OFFER_KINDS: Final = ("discount", "pause", "downgrade", "extension")


@dataclass(frozen=True, slots=True)
class SaveOffer:
    """A save offer shown when a customer is about to cancel (``[retention.offers.<id>]``)."""

    id: str
    kind: str  # discount | pause | downgrade | extension
    description: str
    plans: tuple[str, ...] = ()  # empty: every plan
    markets: tuple[str, ...] = ()  # empty: every market
    min_paid_periods: int = 0  # tenure: paid period invoices of this subscription
    window_days: int = 365  # once per customer within this many days
    cooldown_days: int = 0  # not within this many days of any save offer the customer took
    percent_off: Fraction | None = None  # discount
    periods: int | None = None  # discount: invoices discounted; pause: periods paused
    days: int | None = None  # extension: free days added to the current period
    to_plan: str | None = None  # downgrade: the plan at the period end


@dataclass(frozen=True, slots=True)
class WinbackOffer:
    """A price for customers coming back (``[retention.winback.<id>]``): ``percent_off`` on
    the first ``periods`` invoices of a new subscription to one of ``plans``."""

    id: str
    description: str
    percent_off: Fraction
    periods: int
    plans: tuple[str, ...] = ()  # the plans it may be taken on (empty: all)
    previous_products: tuple[str, ...] = ()  # what the ended subscription was (empty: any)
    markets: tuple[str, ...] = ()
    min_days_gone: int = 30  # the last subscription ended at least this long ago
    window_days: int = 365  # once per customer within this many days


@dataclass(frozen=True, slots=True)
class Retention:
    pause: PauseRule = field(default_factory=PauseRule)
    pause_overrides: tuple[PauseRule, ...] = ()
    offers: Mapping[str, SaveOffer] = field(default_factory=dict)
    winback: Mapping[str, WinbackOffer] = field(default_factory=dict)

    def pause_rule(self, market: str, product: str) -> PauseRule:
        best, rank = self.pause, 0
        for rule in self.pause_overrides:
            if rule.market not in (None, market) or rule.product not in (None, product):
                continue
            score = (2 if rule.product else 0) + (1 if rule.market else 0)
            if score > rank:
                best, rank = rule, score
        return best


_TOP_KEYS: Final = ("pause", "offers", "winback", "price_changes")  # the last: pricing.py
_WINBACK_KEYS: Final = (
    "description",
    "percent_off",
    "periods",
    "plans",
    "previous_products",
    "markets",
    "min_days_gone",
    "window_days",
)
_OFFER_KEYS: Final = (
    "kind",
    "description",
    "plans",
    "markets",
    "min_paid_periods",
    "window_days",
    "cooldown_days",
    "percent_off",
    "periods",
    "days",
    "to_plan",
)
_OFFER_ID = re.compile(r"[a-z][a-z0-9_]{1,63}")
_PERCENT = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_retention(
    raw: object,
    report: Report,
    markets: Mapping[str, Any],
    products: Mapping[str, Any],
    plans: Mapping[str, Any] | None = None,
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
    offers = _offers(raw.get("offers", {}), report, markets, plans or {})
    winback = _winbacks(raw.get("winback", {}), report, markets, products, plans or {})
    return Retention(
        pause=default, pause_overrides=tuple(overrides), offers=offers, winback=winback
    )


def _winbacks(
    raw: object,
    report: Report,
    markets: Mapping[str, Any],
    products: Mapping[str, Any],
    plans: Mapping[str, Any],
) -> dict[str, WinbackOffer]:
    if not isinstance(raw, dict):
        report("retention.winback", "must be a table of named offers")
        return {}
    found: dict[str, WinbackOffer] = {}
    for offer_id, entry in raw.items():
        where = f"retention.winback.{offer_id}"
        say = functools.partial(report, where)
        if not isinstance(entry, dict):
            say("must be a table")
            continue
        if not _OFFER_ID.fullmatch(offer_id):
            say("an offer id is 2-64 lower-case letters, digits and underscores")
        _unknown(report, where, entry, _WINBACK_KEYS)
        percent = _percent(entry, say)
        periods = _int(entry, "periods", 1, 24, say)
        if percent is None or periods is None:
            say('a win-back offer needs "percent_off" and "periods"')
            continue
        description = entry.get("description", offer_id.replace("_", " "))
        found[offer_id] = WinbackOffer(
            id=offer_id,
            description=str(description),
            percent_off=percent,
            periods=periods,
            plans=_names(entry, "plans", plans, say),
            previous_products=_names(entry, "previous_products", products, say, "products"),
            markets=_names(entry, "markets", markets, say),
            min_days_gone=_int(entry, "min_days_gone", 0, 3650, say) or 0,
            window_days=_int(entry, "window_days", 1, 3650, say) or 365,
        )
    return found


def _percent(entry: Mapping[str, Any], say: Callable[[str], None]) -> Fraction | None:
    if "percent_off" not in entry:
        return None
    text = entry["percent_off"]
    if not isinstance(text, str) or not _PERCENT.fullmatch(text) or not 0 < Fraction(text) <= 100:
        say(f"percent_off must be a quoted decimal above 0 and at most 100, not {text!r}")
        return None
    return Fraction(text) / 100


def _offers(
    raw: object, report: Report, markets: Mapping[str, Any], plans: Mapping[str, Any]
) -> dict[str, SaveOffer]:
    if not isinstance(raw, dict):
        report("retention.offers", "must be a table of named offers")
        return {}
    offers: dict[str, SaveOffer] = {}
    for offer_id, entry in raw.items():
        where = f"retention.offers.{offer_id}"
        if not isinstance(entry, dict):
            report(where, "must be a table")
            continue
        if not _OFFER_ID.fullmatch(offer_id):
            report(where, "an offer id is 2-64 lower-case letters, digits and underscores")
        _unknown(report, where, entry, _OFFER_KEYS)
        offer = _offer(offer_id, entry, functools.partial(report, where), markets, plans)
        if offer is not None:
            offers[offer_id] = offer
    return offers


def _int(
    entry: Mapping[str, Any], key: str, low: int, high: int, say: Callable[[str], None]
) -> Any:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        say(f"{key} must be an integer between {low} and {high}, not {value!r}")
        return None
    return value


def _names(
    entry: Mapping[str, Any],
    key: str,
    known: Mapping[str, Any],
    say: Callable[[str], None],
    table: str | None = None,
) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        say(f"{key} must be an array of ids")
        return ()
    for item in value:
        if item not in known:
            say(f'{key}: "{item}" is not defined in [{table or key}]')
    return tuple(value)


def _offer(
    offer_id: str,
    entry: Mapping[str, Any],
    say: Callable[[str], None],
    markets: Mapping[str, Any],
    plans: Mapping[str, Any],
) -> SaveOffer | None:
    kind = entry.get("kind")
    if kind not in OFFER_KINDS:
        say(f'kind "{kind}" must be one of: {", ".join(OFFER_KINDS)}')
        return None
    description = entry.get("description", offer_id.replace("_", " "))
    if not isinstance(description, str) or not description.strip() or len(description) > 200:
        say("description must be a non-empty string of at most 200 characters")
    percent = _percent(entry, say)
    periods = _int(entry, "periods", 1, 24, say)
    days = _int(entry, "days", 1, 365, say)
    to_plan = entry.get("to_plan")
    if to_plan is not None and to_plan not in plans:
        say(f'to_plan "{to_plan}" is not defined in [plans]')
    needs = {
        "discount": ("percent_off", "periods"),
        "pause": ("periods",),
        "downgrade": ("to_plan",),
        "extension": ("days",),
    }[kind]
    for key in needs:
        if key not in entry:
            say(f'a {kind} offer needs "{key}"')
    return SaveOffer(
        id=offer_id,
        kind=kind,
        description=str(description),
        plans=_names(entry, "plans", plans, say),
        markets=_names(entry, "markets", markets, say),
        min_paid_periods=_int(entry, "min_paid_periods", 0, 120, say) or 0,
        window_days=_int(entry, "window_days", 1, 3650, say) or 365,
        cooldown_days=_int(entry, "cooldown_days", 0, 3650, say) or 0,
        percent_off=percent,
        periods=periods,
        days=days,
        to_plan=to_plan if isinstance(to_plan, str) else None,
    )


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
