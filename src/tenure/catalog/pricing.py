"""Price versions and price-change consent as catalog data (docs/retention.md#price-increases).

``[[price_versions]]`` gives a plan a new price from an effective date: new subscribers pay the
version in effect when they subscribe; existing subscribers move only when a price change is
scheduled (``POST /v1/price_changes``), after the notice period and with the market's consent
rule from ``[retention.price_changes]``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from tenure.kernel.clock import parse_rfc3339
from tenure.kernel.money import minor_units, to_minor

Report = Callable[[str, str], None]
CONSENTS: Final = ("notice", "opt_in")
BASE_VERSION: Final = "base"  # the plan's own [plans.<id>.prices]
_VERSION_KEYS: Final = ("plan", "version", "effective_from", "prices")
_CHANGE_KEYS: Final = ("notice_days", "consent", "markets")
_VERSION_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class PriceVersion:
    plan: str
    version: str
    effective_from: datetime
    prices: Mapping[str, int]  # market -> minor units


@dataclass(frozen=True, slots=True)
class ConsentRule:
    notice_days: int = 30
    consent: str = "notice"  # notice: applies unless the customer cancels; opt_in: must accept


@dataclass(frozen=True, slots=True)
class Pricing:
    versions: tuple[PriceVersion, ...] = ()
    consent: ConsentRule = field(default_factory=ConsentRule)
    consent_by_market: Mapping[str, ConsentRule] = field(default_factory=dict)

    def rule_for(self, market: str) -> ConsentRule:
        return self.consent_by_market.get(market, self.consent)

    def version(self, plan: str, version: str) -> PriceVersion | None:
        for found in self.versions:
            if found.plan == plan and found.version == version:
                return found
        return None

    def price_at(
        self, plan: str, base: Mapping[str, int], market: str, at: datetime
    ) -> tuple[int, str]:
        """What a new subscriber to ``plan`` in ``market`` pays at ``at``, and its version."""
        amount, name, since = base[market], BASE_VERSION, None
        for found in self.versions:
            if found.plan != plan or market not in found.prices or found.effective_from > at:
                continue
            if since is None or found.effective_from > since:
                amount, name, since = found.prices[market], found.version, found.effective_from
        return amount, name


def parse_pricing(
    versions: object,
    changes: object,
    report: Report,
    currencies: Mapping[str, str | None],
    plans: Mapping[str, Any],
) -> Pricing:
    found: list[PriceVersion] = []
    if versions is not None and not isinstance(versions, list):
        report("price_versions", "must be an array of tables ([[price_versions]])")
        versions = []
    for index, entry in enumerate(versions or []):
        say = functools.partial(report, f"price_versions[{index}]")
        if not isinstance(entry, dict):
            say("must be a table")
            continue
        version = _version(entry, say, currencies, plans)
        if version is not None:
            if any(v.plan == version.plan and v.version == version.version for v in found):
                say(f'version "{version.version}" of {version.plan} is defined twice')
            found.append(version)
    default, by_market = _consent(changes, report, currencies)
    return Pricing(tuple(found), default, by_market)


def _version(
    entry: Mapping[str, Any],
    say: Callable[[str], None],
    currencies: Mapping[str, str | None],
    plans: Mapping[str, Any],
) -> PriceVersion | None:
    for key in entry:
        if key not in _VERSION_KEYS:
            say(f'unknown key "{key}" (allowed keys: {", ".join(_VERSION_KEYS)})')
    plan, version = entry.get("plan"), entry.get("version")
    if not isinstance(plan, str) or plan not in plans:
        say(f'plan "{plan}" is not defined in [plans]')
        return None
    if not isinstance(version, str) or not _VERSION_ID.fullmatch(version) or version == "base":
        say('version must be 1-64 lower-case letters, digits, "-" or "_" (not "base")')
        return None
    try:
        effective = parse_rfc3339(str(entry.get("effective_from")))
    except (ValueError, OverflowError):
        say('effective_from must be an RFC 3339 timestamp such as "2030-01-01T00:00:00Z"')
        return None
    raw = entry.get("prices")
    if not isinstance(raw, dict) or not raw:
        say("prices must be a table of market = price")
        return None
    prices: dict[str, int] = {}
    for market, text in raw.items():
        currency = currencies.get(market)
        if currency is None or not isinstance(text, str) or not _DECIMAL.fullmatch(text):
            say(f"prices.{market}: a quoted price in a market defined in [markets]")
            continue
        try:
            prices[market] = to_minor(text, currency)
        except ValueError:
            say(f"prices.{market}: more decimals than {currency} allows ({minor_units(currency)})")
    if market_missing := [m for m in prices if m not in (plans[plan].get("prices") or {})]:
        say(f"prices: {', '.join(market_missing)} where the plan is not sold")
    return PriceVersion(plan, version, effective, prices)


def _consent(
    raw: object, report: Report, currencies: Mapping[str, str | None]
) -> tuple[ConsentRule, dict[str, ConsentRule]]:
    if raw is None:
        return ConsentRule(), {}
    where = "retention.price_changes"
    if not isinstance(raw, dict):
        report(where, "must be a table")
        return ConsentRule(), {}
    default = _rule(raw, functools.partial(report, where), ConsentRule(), _CHANGE_KEYS)
    markets = raw.get("markets", {})
    by_market: dict[str, ConsentRule] = {}
    if not isinstance(markets, dict):
        report(where, "markets must be a table of market = { consent, notice_days }")
        return default, {}
    for market, entry in markets.items():
        say = functools.partial(report, f"{where}.markets.{market}")
        if market not in currencies:
            say(f'market "{market}" is not defined in [markets]')
            continue
        if not isinstance(entry, dict):
            say("must be a table")
            continue
        by_market[market] = _rule(entry, say, default, ("notice_days", "consent"))
    return default, by_market


def _rule(
    raw: Mapping[str, Any], say: Callable[[str], None], base: ConsentRule, keys: tuple[str, ...]
) -> ConsentRule:
    for key in raw:
        if key not in keys:
            say(f'unknown key "{key}" (allowed keys: {", ".join(keys)})')
    notice, consent = base.notice_days, base.consent
    if "notice_days" in raw:
        value = raw["notice_days"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
            say(f"notice_days must be an integer between 0 and 365, not {value!r}")
        else:
            notice = value
    if "consent" in raw:
        if raw["consent"] in CONSENTS:
            consent = raw["consent"]
        else:
            say(f'consent "{raw["consent"]}" must be one of: {", ".join(CONSENTS)}')
    return ConsentRule(notice, consent)
