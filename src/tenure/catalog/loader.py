"""Load the catalog from TOML and validate it completely before anything uses it.

The catalog is edited by hand, so validation collects every problem instead of stopping at the
first: fixing one typo per failed start is a miserable loop. Each problem names the file, the
entry and what is wrong, so it can be fixed without reading this module.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from tenure.catalog.dunning_rules import parse_disputes, parse_dunning
from tenure.catalog.lifecycle import parse_lifecycle
from tenure.catalog.model import (
    Catalog,
    FeatureValue,
    IntroOffer,
    Market,
    Plan,
    Product,
)
from tenure.catalog.pricing import parse_pricing
from tenure.catalog.retention import parse_retention
from tenure.catalog.tables import Problems as _Problems
from tenure.catalog.tables import References as _References
from tenure.catalog.tables import Table as _Table
from tenure.catalog.tables import kind_of as _kind
from tenure.kernel.calendar import Interval
from tenure.kernel.money import UnknownCurrency, minor_units, to_minor

__all__ = ["CatalogError", "default_catalog_path", "load_catalog", "parse_catalog"]

_DEFAULT_FILE = "default_catalog.toml"

_MARKET_CODE = re.compile(r"[A-Z]{2}")
_ID = re.compile(r"[a-z][a-z0-9_]{1,63}")
_FEATURE_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Stricter than Fraction(), which would also accept "1/3", "1e2" or "1_000" as a price.
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")

_TOP_KEYS = (
    "catalog", "markets", "products", "plans", "change_policies", "dunning", "disputes",
    "lifecycle", "retention", "price_versions",
)  # fmt: skip
_CATALOG_KEYS = ("free_product",)
_MARKET_KEYS = ("currency", "tax_inclusive", "tax_rate", "tax_name", "regions")
_REGION_CODE = re.compile(r"[A-Z0-9]{1,3}")
_PRODUCT_KEYS = ("name", "family", "accounts", "free", "features", "proration", "addon_for")
_CHANGE_POLICY_KEYS = ("from", "to", "at", "anchor")
_ANCHORS = ("reset", "keep")
_PRORATIONS = ("days", "seconds")
_TIMINGS = ("now", "period_end")
_PLAN_KEYS = ("product", "interval", "interval_count", "trial_days", "prices", "intro", "renews")
_INTRO_KEYS = ("periods", "prices")


class CatalogError(Exception):
    """The catalog file is unreadable or invalid; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(self.problems)


def default_catalog_path() -> Path:
    """The catalog shipped inside the package (declared as package data)."""
    return Path(__file__).with_name(_DEFAULT_FILE)


def load_catalog(path: str | Path) -> Catalog:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError([f"{source}: not valid UTF-8 (byte {exc.start}): {exc.reason}"]) from exc
    except OSError as exc:
        raise CatalogError([f"{source}: cannot read catalog: {exc.strerror or exc}"]) from exc
    return parse_catalog(text, source)


def parse_catalog(text: str, source: str) -> Catalog:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line N, column M)", which is what the editor needs.
        raise CatalogError([f"{source}: invalid TOML: {exc}"]) from exc
    problems = _Problems(source)
    catalog = _build(document, problems)
    if catalog is None or problems.items:
        raise CatalogError(problems.items)
    return catalog


def _decimal(table: _Table, label: str, value: object, example: str) -> str | None:
    """A decimal string, kept as text so money and rates never pass through float."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return value
    if isinstance(value, str):
        table.problem(f'{label}: "{value}" is not a decimal number such as "{example}"')
    else:
        table.problem(
            f'{label} must be a quoted decimal string such as "{example}" so it is exact, '
            f"not {_kind(value)}"
        )
    return None


def _check_id(table: _Table, ident: str, kind: str) -> None:
    if not _ID.fullmatch(ident):
        table.problem(
            f'{kind} id "{ident}" must be 2-64 characters of lower-case letters, digits and '
            "underscores, starting with a letter"
        )


def _section(document: Mapping[str, Any], name: str, problems: _Problems) -> dict[str, Any] | None:
    raw = document.get(name)
    if raw is None:
        problems.add(name, f"table [{name}] is missing")
        return None
    if not isinstance(raw, dict):
        problems.add(name, f"must be a table, not {_kind(raw)}")
        return None
    return raw


def _entries(document: Mapping[str, Any], name: str, problems: _Problems) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for key, value in (_section(document, name, problems) or {}).items():
        if isinstance(value, dict):
            entries[key] = value
        else:
            problems.add(f"{name}.{key}", f"must be a table, not {_kind(value)}")
    return entries


def _currency(table: _Table) -> str | None:
    code = table.get("currency", str)
    if code is None:
        return None
    try:
        minor_units(code)
    except UnknownCurrency:
        table.problem(f'currency "{code}" is not a known ISO 4217 currency code')
        return None
    return code


def _tax_rate(table: _Table) -> Fraction | None:
    if "tax_rate" not in table.raw:
        table.problem('missing required key "tax_rate"')
        return None
    text = _decimal(table, "tax_rate", table.raw["tax_rate"], "25")
    if text is None:
        return None
    percent = Fraction(text)
    if not 0 <= percent <= 100:
        table.problem(f'tax_rate "{text}" must be a percentage between 0 and 100')
        return None
    return percent / 100


def _market(code: str, table: _Table, currency: str | None) -> Market | None:
    if not _MARKET_CODE.fullmatch(code):
        table.problem(f'market code "{code}" must be two upper-case letters (ISO 3166-1)')
    inclusive = table.get("tax_inclusive", bool)
    rate = _tax_rate(table)
    tax_name = table.get("tax_name", str, "VAT")
    regions = _regions(table)
    if currency is None or inclusive is None or rate is None or tax_name is None:
        return None
    if regions is None:
        return None
    return Market(code, currency, inclusive, rate, tax_name, regions)


def _regions(table: _Table) -> dict[str, Fraction] | None:
    """``[markets.US.regions] CA = "7.25"``: a tax rate per region (state, province)."""
    raw = table.raw.get("regions", {})
    if not isinstance(raw, dict):
        table.problem(f"regions must be a table of region = rate, not {_kind(raw)}")
        return None
    rates: dict[str, Fraction] = {}
    for region, value in raw.items():
        if not _REGION_CODE.fullmatch(region):
            table.problem(f'region "{region}" must be 1-3 upper-case letters or digits')
            continue
        text = _decimal(table, f"regions.{region}", value, "7.25")
        if text is None:
            continue
        if not 0 <= Fraction(text) <= 100:
            table.problem(f'regions.{region}: "{text}" must be a percentage between 0 and 100')
            continue
        rates[region] = Fraction(text) / 100
    return rates


def _load_markets(
    document: Mapping[str, Any], problems: _Problems
) -> tuple[dict[str, Market], dict[str, str | None]]:
    """Markets, plus every defined market code's currency (None if that currency is invalid),
    so prices are still checked when some other field of their market is wrong."""
    markets: dict[str, Market] = {}
    currencies: dict[str, str | None] = {}
    entries = _entries(document, "markets", problems)
    if document.get("markets") == {}:
        problems.add("markets", "no markets are defined")
    for code, raw in entries.items():
        table = _Table(problems, f"markets.{code}", raw, _MARKET_KEYS)
        currencies[code] = _currency(table)
        market = _market(code, table, currencies[code])
        if market is not None:
            markets[code] = market
    return markets, currencies


def _features(table: _Table) -> dict[str, FeatureValue] | None:
    raw: dict[str, Any] | None = table.get("features", dict, {})
    if raw is None:
        return None
    features: dict[str, FeatureValue] = {}
    valid = True
    for name, value in raw.items():
        if not _FEATURE_NAME.fullmatch(name):
            table.problem(
                f'feature name "{name}" must be lower-case letters, digits and underscores, '
                "starting with a letter"
            )
            valid = False
        elif not isinstance(value, bool | int | str):
            table.problem(
                f"features.{name} must be a boolean, integer or string, not {_kind(value)}"
            )
            valid = False
        else:
            features[name] = value
    return features if valid else None


def _product(product_id: str, raw: Mapping[str, Any], problems: _Problems) -> Product | None:
    table = _Table(problems, f"products.{product_id}", raw, _PRODUCT_KEYS)
    _check_id(table, product_id, "product")
    name = table.get("name", str)
    family = table.get("family", str)
    accounts = table.integer("accounts", 1, None)
    free = table.get("free", bool, False)
    features = _features(table)
    proration = table.get("proration", str, "days")
    if proration is not None and proration not in _PRORATIONS:
        table.problem(f'proration "{proration}" must be one of: {", ".join(_PRORATIONS)}')
        proration = None
    if (
        name is None
        or family is None
        or accounts is None
        or free is None
        or features is None
        or proration is None
    ):
        return None
    addon_for = _addon_for(table)
    return Product(product_id, name, family, accounts, features, free, proration, addon_for)


def _addon_for(table: _Table) -> tuple[str, ...]:
    """``addon_for = ["premium_individual"]``: the base products an add-on attaches to
    (checked against the products once all are read, in :func:`_check_addons`)."""
    raw = table.raw.get("addon_for", [])
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        table.problem(f"addon_for must be an array of product ids, not {raw!r}")
        return ()
    return tuple(raw)


def _check_addons(products: Mapping[str, Product | None], problems: _Problems) -> None:
    for product in products.values():
        if product is None:
            continue
        for base in product.addon_for:
            found = products.get(base)
            entry = f"products.{product.id}"
            if base not in products:
                problems.add(entry, f'addon_for: product "{base}" is not defined in [products]')
            elif found is not None and (found.free or found.is_addon):
                problems.add(entry, f'addon_for: "{base}" is the free product or an add-on')


_Policies = tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]


def _change_policies(
    document: Mapping[str, Any], plan_ids: set[str], problems: _Problems
) -> _Policies:
    """``[[change_policies]] from = "a", to = "b", at = "now", anchor = "keep"``: per-pair
    timing and billing-anchor overrides (each optional, at least one)."""
    raw = document.get("change_policies", [])
    if not isinstance(raw, list):
        problems.add("change_policies", "must be an array of tables ([[change_policies]])")
        return {}, {}
    policies: dict[tuple[str, str], str] = {}
    anchors: dict[tuple[str, str], str] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            problems.add(f"change_policies[{index}]", "must be a table")
            continue
        table = _Table(problems, f"change_policies[{index}]", entry, _CHANGE_POLICY_KEYS)
        source, target = table.get("from", str), table.get("to", str)
        at = table.get("at", str, "") or None
        anchor = table.get("anchor", str, "") or None
        if at is None and anchor is None and "at" not in entry and "anchor" not in entry:
            table.problem('a change policy must set "at", "anchor" or both')
        if anchor is not None and anchor not in _ANCHORS:
            table.problem(f'anchor "{anchor}" must be one of: {", ".join(_ANCHORS)}')
        if source and target and anchor in _ANCHORS:
            anchors[(source, target)] = anchor
        for key, plan in (("from", source), ("to", target)):
            if plan is not None and plan not in plan_ids:
                table.problem(f'{key} plan "{plan}" is not defined in [plans]')
        if at is not None and at not in _TIMINGS:
            table.problem(f'at "{at}" must be one of: {", ".join(_TIMINGS)}')
        if source and target and at in _TIMINGS:
            policies[(source, target)] = at
    return policies, anchors


def _free_ids(raw_products: Mapping[str, Any], problems: _Problems) -> list[str]:
    # Read from the raw tables so a free product with an unrelated problem still counts.
    free_ids = [pid for pid, raw in raw_products.items() if raw.get("free") is True]
    if raw_products and not free_ids:
        problems.add("products", "no product has free = true; exactly one must")
    if len(free_ids) > 1:
        problems.add("products", f"only one product may be free, found: {', '.join(free_ids)}")
    return free_ids


def _free_product(
    document: Mapping[str, Any], raw_products: Mapping[str, Any], problems: _Problems
) -> str | None:
    """catalog.free_product, checked against the one product with free = true."""
    free_ids = _free_ids(raw_products, problems)
    section = _section(document, "catalog", problems)
    if section is None:
        return None
    table = _Table(problems, "catalog", section, _CATALOG_KEYS)
    free_product = table.get("free_product", str)
    if free_product is None:
        return None
    if free_product not in raw_products:
        table.problem(f'free_product "{free_product}" is not defined in [products]')
        return None
    if free_product not in free_ids:
        table.problem(f'free_product "{free_product}" does not have free = true')
        return None
    return free_product


def _plan_product(table: _Table, refs: _References) -> str | None:
    product = table.get("product", str)
    if product is None:
        return None
    if product not in refs.products:
        table.problem(f'product "{product}" is not defined in [products]')
        return None
    if refs.products[product].get("free") is True:
        table.problem(f'product "{product}" is the free product, which has no plans')
        return None
    return product


def _interval(table: _Table) -> Interval | None:
    name = table.get("interval", str)
    if name is None:
        return None
    try:
        return Interval(name)
    except ValueError:
        allowed = ", ".join(interval.value for interval in Interval)
        table.problem(f'interval "{name}" must be one of: {allowed}')
        return None


def _price(table: _Table, market: str, value: object, refs: _References) -> int | None:
    label = f"prices.{market}"
    if market not in refs.currencies:
        table.problem(f'{label}: market "{market}" is not defined in [markets]')
        return None
    text = _decimal(table, label, value, "129.00")
    currency = refs.currencies[market]
    if text is None or currency is None:
        return None
    try:
        amount = to_minor(text, currency)
    except ValueError:
        exponent = minor_units(currency)
        table.problem(f'{label}: "{text}" has more decimals than {currency} allows ({exponent})')
        return None
    if amount <= 0:
        table.problem(f'{label}: price "{text}" must be greater than 0')
        return None
    return amount


def _prices(table: _Table, refs: _References) -> dict[str, int] | None:
    raw: dict[str, Any] | None = table.get("prices", dict)
    if raw is None:
        return None
    if not raw:
        table.problem("prices is empty; a plan must be priced in at least one market")
        return None
    prices = {market: _price(table, market, value, refs) for market, value in raw.items()}
    valid = {market: amount for market, amount in prices.items() if amount is not None}
    return valid if len(valid) == len(prices) else None


def _plan(
    plan_id: str, raw: Mapping[str, Any], refs: _References, problems: _Problems
) -> Plan | None:
    table = _Table(problems, f"plans.{plan_id}", raw, _PLAN_KEYS)
    _check_id(table, plan_id, "plan")
    product = _plan_product(table, refs)
    interval = _interval(table)
    count = table.integer("interval_count", 1, 36, 1)
    trial_days = table.integer("trial_days", 0, 365, 0)
    prices = _prices(table, refs)
    intro = _intro(table, refs, prices)
    renews = table.get("renews", bool, True)
    if renews is False and (trial_days or intro is not None):
        table.problem("a prepaid plan (renews = false) has no trial and no intro offer")
    if product is None or interval is None or count is None or trial_days is None:
        return None
    if prices is None or renews is None:
        return None
    return Plan(plan_id, product, interval, count, prices, trial_days, intro, renews)


def _intro(plan: _Table, refs: _References, regular: dict[str, int] | None) -> IntroOffer | None:
    """``[plans.x.intro] periods = 3`` with ``[plans.x.intro.prices]``. An invalid one is
    reported as a problem (which fails the whole load) and read as None."""
    raw = plan.raw.get("intro")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        plan.problem(f"intro must be a table, not {_kind(raw)}")
        return None
    table = _Table(plan.problems, f"{plan.entry}.intro", raw, _INTRO_KEYS)
    periods = table.integer("periods", 1, 36)
    prices = _prices(table, refs)
    if periods is None or prices is None:
        return None
    for market, amount in prices.items():
        if regular is not None and market not in regular:
            table.problem(f"prices.{market}: the plan itself is not sold in {market}")
        elif regular is not None and amount >= regular[market]:
            table.problem(f"prices.{market}: an intro price must be below the regular price")
    return IntroOffer(periods, prices)


def _build(document: Mapping[str, Any], problems: _Problems) -> Catalog | None:
    _Table(problems, "(top level)", document, _TOP_KEYS)
    markets, currencies = _load_markets(document, problems)
    raw_products = _entries(document, "products", problems)
    products = {pid: _product(pid, raw, problems) for pid, raw in raw_products.items()}
    free_product = _free_product(document, raw_products, problems)
    _check_addons(products, problems)
    refs = _References(raw_products, currencies)
    # A catalog may sell nothing yet, but an absent [plans] table is more likely a mistake.
    raw_plans = _entries(document, "plans", problems)
    plans = {pid: _plan(pid, raw, refs, problems) for pid, raw in raw_plans.items()}
    policies, anchors = _change_policies(document, set(raw_plans), problems)
    dunning, dunning_overrides = parse_dunning(document, refs, problems)
    disputes = parse_disputes(document, problems)
    lifecycle, lifecycle_overrides = parse_lifecycle(
        document, markets=set(currencies), products=set(raw_products), report=problems.add
    )
    retention_raw = document.get("retention")
    retention = parse_retention(retention_raw, problems.add, currencies, raw_products, raw_plans)
    pricing = parse_pricing(
        document.get("price_versions"),
        retention_raw.get("price_changes") if isinstance(retention_raw, dict) else None,
        problems.add,
        currencies,
        raw_plans,
    )
    if problems.items or free_product is None:
        return None
    return Catalog(
        markets=markets,
        products={pid: product for pid, product in products.items() if product is not None},
        plans={pid: plan for pid, plan in plans.items() if plan is not None},
        free_product=free_product,
        source=problems.source,
        change_policies=policies,
        change_anchors=anchors,
        dunning=dunning,
        dunning_overrides=dunning_overrides,
        disputes=disputes,
        lifecycle=lifecycle,
        lifecycle_overrides=lifecycle_overrides,
        retention=retention,
        pricing=pricing,
    )
