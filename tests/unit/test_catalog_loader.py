"""The catalog loader: the packaged default catalog, and every validation rule of the format."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tenure.catalog.loader import CatalogError, default_catalog_path, load_catalog, parse_catalog
from tenure.catalog.model import Catalog
from tenure.kernel.calendar import Interval

SOURCE = "test.toml"

# A small valid catalog; each rejection test changes exactly one thing in it.
VALID = """\
[catalog]
free_product = "free"

[markets.SE]
currency = "SEK"
tax_inclusive = true
tax_rate = "25"

[markets.JP]
currency = "JPY"
tax_inclusive = true
tax_rate = "10"
tax_name = "Consumption tax"

[markets.KW]
currency = "KWD"
tax_inclusive = false
tax_rate = "0"

[products.free]
name = "Free"
family = "free"
accounts = 1
free = true

[products.premium_solo]
name = "Premium Solo"
family = "premium"
accounts = 1
[products.premium_solo.features]
ad_free = true
audiobook_hours = 15
quality = "high"

[plans.premium_solo_monthly]
product = "premium_solo"
interval = "month"
trial_days = 30
[plans.premium_solo_monthly.prices]
SE = "129.00"
JP = "1480"
KW = "2.500"
"""

SECOND_FREE = """
[products.free_plus]
name = "Free Plus"
family = "free"
accounts = 1
free = true
"""


def edit(old: str, new: str, text: str = VALID) -> str:
    """Replace the one occurrence of ``old``; an empty ``old`` appends ``new`` instead."""
    if not old:
        return text + new
    assert text.count(old) == 1, f"{old!r} must occur exactly once in the base catalog"
    return text.replace(old, new)


def problems_of(text: str) -> list[str]:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, SOURCE)
    return info.value.problems


def test_base_catalog_is_valid_and_applies_defaults() -> None:
    catalog = parse_catalog(VALID, SOURCE)

    assert catalog.source == SOURCE
    assert catalog.free_product == "free"
    assert catalog.markets["SE"].tax_name == "VAT"
    assert catalog.markets["SE"].tax_rate == Fraction(1, 4)
    assert catalog.markets["KW"].tax_inclusive is False
    assert catalog.products["free"].features == {}
    assert catalog.products["premium_solo"].free is False
    assert catalog.products["premium_solo"].features == {
        "ad_free": True,
        "audiobook_hours": 15,
        "quality": "high",
    }
    plan = catalog.plans["premium_solo_monthly"]
    assert (plan.interval, plan.interval_count, plan.trial_days) == (Interval.MONTH, 1, 30)
    assert plan.prices == {"SE": 12900, "JP": 1480, "KW": 2500}


# --- The packaged default catalog ------------------------------------------------------------

MARKETS = {
    "SE": ("SEK", True, Fraction(25, 100), "VAT"),
    "GB": ("GBP", True, Fraction(20, 100), "VAT"),
    "DE": ("EUR", True, Fraction(19, 100), "VAT"),
    "US": ("USD", False, Fraction(725, 10000), "Sales tax"),
    "JP": ("JPY", True, Fraction(10, 100), "Consumption tax"),
    "IN": ("INR", True, Fraction(18, 100), "GST"),
    "BR": ("BRL", True, Fraction(925, 10000), "PIS/COFINS"),
    "KW": ("KWD", True, Fraction(0), "VAT"),
}

# Minor units: JPY has no decimals (1080 yen is 1080), KWD has three (1.500 KWD is 1500 fils).
PRICES = {
    "premium_individual_monthly": {
        "SE": 12900, "GB": 1199, "DE": 1099, "US": 1199,
        "JP": 1080, "IN": 13900, "BR": 2190, "KW": 1500,
    },
    "premium_individual_annual": {
        "SE": 129000, "GB": 11900, "DE": 10900, "US": 11900,
        "JP": 10800, "IN": 139000, "BR": 21900, "KW": 15000,
    },
    "premium_duo_monthly": {
        "SE": 16900, "GB": 1699, "DE": 1499, "US": 1699,
        "JP": 1400, "IN": 17900, "BR": 2790, "KW": 1950,
    },
    "premium_duo_annual": {
        "SE": 169000, "GB": 16900, "DE": 14900, "US": 16900,
        "JP": 14000, "IN": 179000, "BR": 27900, "KW": 19500,
    },
    "premium_family_monthly": {
        "SE": 20900, "GB": 1999, "DE": 1799, "US": 1999,
        "JP": 1730, "IN": 22900, "BR": 3490, "KW": 2400,
    },
    "premium_family_annual": {
        "SE": 209000, "GB": 19900, "DE": 17900, "US": 19900,
        "JP": 17300, "IN": 229000, "BR": 34900, "KW": 24000,
    },
    "premium_student_monthly": {
        "SE": 6900, "GB": 599, "DE": 599, "US": 599,
        "JP": 580, "IN": 7900, "BR": 1190, "KW": 825,
    },
    "premium_student_annual": {
        "SE": 69000, "GB": 5900, "DE": 5900, "US": 5900,
        "JP": 5800, "IN": 79000, "BR": 11900, "KW": 8250,
    },
}  # fmt: skip


# Prepaid Premium Individual (issue 12): months, and prices in IN and BR only.
PREPAID: dict[str, tuple[int, dict[str, int]]] = {
    "premium_individual_prepaid_1m": (1, {"IN": 13900, "BR": 2190}),
    "premium_individual_prepaid_3m": (3, {"IN": 39900, "BR": 6290}),
    "premium_individual_prepaid_12m": (12, {"IN": 138900, "BR": 21900}),
}


@pytest.mark.parametrize("plan_id", list(PREPAID))
def test_default_prepaid_plans_do_not_renew(default: Catalog, plan_id: str) -> None:
    plan = default.plans[plan_id]
    months, prices = PREPAID[plan_id]
    assert (plan.product, plan.interval, plan.interval_count) == (
        "premium_individual",
        Interval.MONTH,
        months,
    )
    assert (plan.renews, plan.trial_days, plan.intro, dict(plan.prices)) == (
        False,
        0,
        None,
        prices,
    )


@pytest.fixture(scope="module")
def default() -> Catalog:
    return load_catalog(default_catalog_path())


def test_default_catalog_path_is_the_packaged_file() -> None:
    path = default_catalog_path()

    assert path.name == "default_catalog.toml"
    assert path.is_file()
    assert path.parent == Path(__file__).parents[2] / "src" / "tenure" / "catalog"


def test_default_catalog_loads_with_its_path_as_source(default: Catalog) -> None:
    assert default.source == str(default_catalog_path())
    assert list(default.markets) == list(MARKETS)
    assert set(default.products) == {
        "free",
        "premium_individual",
        "premium_duo",
        "premium_family",
        "premium_student",
        "audiobooks_addon",
    }
    assert default.products["audiobooks_addon"].addon_for == ("premium_individual",)
    assert set(default.plans) == set(PRICES) | set(PREPAID) | {"audiobooks_addon_monthly"}
    assert default.free_product == "free"
    assert default.free.free is True


@pytest.mark.parametrize("code", list(MARKETS))
def test_default_markets(default: Catalog, code: str) -> None:
    market = default.markets[code]

    assert (market.currency, market.tax_inclusive, market.tax_rate, market.tax_name) == (
        MARKETS[code]
    )


def test_default_products(default: Catalog) -> None:
    accounts = {pid: product.accounts for pid, product in default.products.items()}
    assert accounts == {
        "free": 1,
        "premium_individual": 1,
        "premium_duo": 2,
        "premium_family": 6,
        "premium_student": 1,
        "audiobooks_addon": 1,
    }
    assert default.products["free"].family == "free"
    assert default.products["free"].features["shuffle_play"] is True
    assert default.products["free"].features["ads"] is True
    premium = [p for p in default.products.values() if not p.free and not p.is_addon]
    assert {product.family for product in premium} == {"premium"}
    for product in premium:
        for feature in ("ad_free", "on_demand", "offline", "high_quality_audio"):
            assert product.features[feature] is True, (product.id, feature)
    assert default.products["premium_family"].features["parental_controls"] is True
    assert default.products["premium_individual"].features["audiobook_hours"] == 15


@pytest.mark.parametrize("plan_id", list(PRICES))
def test_default_plan_prices_are_exact_minor_units(default: Catalog, plan_id: str) -> None:
    plan = default.plans[plan_id]

    assert dict(plan.prices) == PRICES[plan_id]
    assert set(plan.prices) == set(default.markets)
    assert all(type(amount) is int for amount in plan.prices.values())


@pytest.mark.parametrize("plan_id", list(PRICES))
def test_default_plan_periods_and_trials(default: Catalog, plan_id: str) -> None:
    plan = default.plans[plan_id]
    monthly = plan_id.endswith("_monthly")

    assert plan.product == plan_id.rsplit("_", 1)[0]
    assert plan.interval is (Interval.MONTH if monthly else Interval.YEAR)
    assert plan.interval_count == 1
    assert plan.trial_days == (30 if monthly else 0)


def test_default_catalog_currency_exponents(default: Catalog) -> None:
    plan = default.plan("premium_individual_monthly")

    assert default.describe_price(plan, default.market("SE")) == "129.00 SEK"
    assert default.describe_price(plan, default.market("JP")) == "1080 JPY"
    assert default.describe_price(plan, default.market("KW")) == "1.500 KWD"
    assert default.describe_price(plan, default.market("US")) == "11.99 USD"


def test_default_catalog_sells_no_plan_of_the_free_product(default: Catalog) -> None:
    assert [plan.id for plan in default.plans.values() if plan.product == "free"] == []


# --- Rejections: one problem each, naming the file, the entry and the problem ----------------

REJECTIONS = [
    # markets
    pytest.param(
        "",
        '\n[markets.Sweden]\ncurrency = "SEK"\ntax_inclusive = true\ntax_rate = "25"\n',
        "markets.Sweden",
        'market code "Sweden" must be two upper-case letters',
        id="market-code-not-two-letters",
    ),
    pytest.param(
        "",
        '\n[markets.se]\ncurrency = "SEK"\ntax_inclusive = true\ntax_rate = "25"\n',
        "markets.se",
        'market code "se" must be two upper-case letters',
        id="market-code-lower-case",
    ),
    pytest.param(
        'currency = "SEK"',
        'currency = "XYZ"',
        "markets.SE",
        'currency "XYZ" is not a known ISO 4217 currency code',
        id="currency-unknown",
    ),
    pytest.param(
        'currency = "SEK"',
        'currency = "sek"',
        "markets.SE",
        'currency "sek" is not a known ISO 4217 currency code',
        id="currency-lower-case",
    ),
    pytest.param(
        'currency = "SEK"\n',
        "",
        "markets.SE",
        'missing required key "currency"',
        id="currency-missing",
    ),
    pytest.param(
        'currency = "SEK"\ntax_inclusive = true',
        'currency = "SEK"\ntax_inclusive = "yes"',
        "markets.SE",
        "tax_inclusive must be true or false, not a string",
        id="tax-inclusive-not-bool",
    ),
    pytest.param(
        'currency = "SEK"\ntax_inclusive = true',
        'currency = "SEK"\ntax_inclusive = 1',
        "markets.SE",
        "tax_inclusive must be true or false, not an integer",
        id="tax-inclusive-int",
    ),
    pytest.param(
        'tax_rate = "25"',
        "tax_rate = 25.0",
        "markets.SE",
        'tax_rate must be a quoted decimal string such as "25" so it is exact, not a float',
        id="tax-rate-float",
    ),
    pytest.param(
        'tax_rate = "25"',
        "tax_rate = 25",
        "markets.SE",
        "tax_rate must be a quoted decimal string",
        id="tax-rate-int",
    ),
    pytest.param(
        'tax_rate = "25"',
        'tax_rate = "25%"',
        "markets.SE",
        'tax_rate: "25%" is not a decimal number such as "25"',
        id="tax-rate-percent-sign",
    ),
    pytest.param(
        'tax_rate = "25"',
        'tax_rate = "1/4"',
        "markets.SE",
        'tax_rate: "1/4" is not a decimal number',
        id="tax-rate-fraction-syntax",
    ),
    pytest.param(
        'tax_rate = "25"',
        'tax_rate = "2.5e1"',
        "markets.SE",
        'tax_rate: "2.5e1" is not a decimal number',
        id="tax-rate-exponent",
    ),
    pytest.param(
        'tax_rate = "25"',
        'tax_rate = "100.01"',
        "markets.SE",
        'tax_rate "100.01" must be a percentage between 0 and 100',
        id="tax-rate-above-100",
    ),
    pytest.param(
        'tax_rate = "25"',
        'tax_rate = "-1"',
        "markets.SE",
        'tax_rate "-1" must be a percentage between 0 and 100',
        id="tax-rate-negative",
    ),
    pytest.param(
        'tax_rate = "25"\n',
        "",
        "markets.SE",
        'missing required key "tax_rate"',
        id="tax-rate-missing",
    ),
    pytest.param(
        'tax_name = "Consumption tax"',
        'tax_name = ""',
        "markets.JP",
        "tax_name must be a non-empty string, not a blank string",
        id="tax-name-empty",
    ),
    pytest.param(
        'tax_rate = "25"',
        'tax_rate = "25"\nvat = "25"',
        "markets.SE",
        'unknown key "vat"',
        id="market-unknown-key",
    ),
    # products
    pytest.param(
        'family = "premium"',
        'family = "premium"\nfamly = "premium"',
        "products.premium_solo",
        'unknown key "famly" (did you mean "family"?)',
        id="product-unknown-key",
    ),
    pytest.param(
        "",
        '\n[products.Premium]\nname = "P"\nfamily = "premium"\naccounts = 1\n',
        "products.Premium",
        'product id "Premium" must be 2-64 characters of lower-case letters',
        id="product-id-upper-case",
    ),
    pytest.param(
        "",
        '\n[products.p]\nname = "P"\nfamily = "premium"\naccounts = 1\n',
        "products.p",
        'product id "p" must be 2-64 characters',
        id="product-id-too-short",
    ),
    pytest.param(
        "",
        f'\n[products.{"p" * 65}]\nname = "P"\nfamily = "premium"\naccounts = 1\n',
        f"products.{'p' * 65}",
        "must be 2-64 characters",
        id="product-id-too-long",
    ),
    pytest.param(
        "",
        '\n[products.2premium]\nname = "P"\nfamily = "premium"\naccounts = 1\n',
        "products.2premium",
        "starting with a letter",
        id="product-id-starts-with-digit",
    ),
    pytest.param(
        'name = "Premium Solo"\n',
        "",
        "products.premium_solo",
        'missing required key "name"',
        id="product-name-missing",
    ),
    pytest.param(
        'family = "premium"',
        'family = ""',
        "products.premium_solo",
        "family must be a non-empty string, not a blank string",
        id="product-family-empty",
    ),
    pytest.param(
        'family = "premium"',
        "family = 1",
        "products.premium_solo",
        "family must be a non-empty string, not an integer",
        id="product-family-not-string",
    ),
    pytest.param(
        'family = "premium"\naccounts = 1',
        'family = "premium"\naccounts = 0',
        "products.premium_solo",
        "accounts must be at least 1, not 0",
        id="product-accounts-zero",
    ),
    pytest.param(
        'family = "premium"\naccounts = 1',
        'family = "premium"\naccounts = true',
        "products.premium_solo",
        "accounts must be an integer, not a boolean",
        id="product-accounts-bool",
    ),
    pytest.param(
        'family = "premium"\naccounts = 1',
        'family = "premium"\naccounts = "2"',
        "products.premium_solo",
        "accounts must be an integer, not a string",
        id="product-accounts-string",
    ),
    pytest.param(
        'family = "premium"\naccounts = 1\n',
        'family = "premium"\n',
        "products.premium_solo",
        'missing required key "accounts"',
        id="product-accounts-missing",
    ),
    pytest.param(
        "audiobook_hours = 15",
        "audiobook_hours = 15.5",
        "products.premium_solo",
        "features.audiobook_hours must be a boolean, integer or string, not a float",
        id="feature-float",
    ),
    pytest.param(
        "audiobook_hours = 15",
        "audiobook_hours = [15]",
        "products.premium_solo",
        "features.audiobook_hours must be a boolean, integer or string, not an array",
        id="feature-array",
    ),
    pytest.param(
        "ad_free = true",
        '"Ad-Free" = true',
        "products.premium_solo",
        'feature name "Ad-Free" must be lower-case letters, digits and underscores, starting with',
        id="feature-name-invalid",
    ),
    pytest.param(
        "accounts = 1\nfree = true",
        'accounts = 1\nfree = true\nfeatures = "all"',
        "products.free",
        "features must be a table, not a string",
        id="features-not-a-table",
    ),
    # the free product
    pytest.param(
        'free_product = "free"',
        'free_product = "gratis"',
        "catalog",
        'free_product "gratis" is not defined in [products]',
        id="free-product-undefined",
    ),
    pytest.param(
        'free_product = "free"',
        'free_product = "premium_solo"',
        "catalog",
        'free_product "premium_solo" does not have free = true',
        id="free-product-not-free",
    ),
    pytest.param(
        'free_product = "free"\n',
        "",
        "catalog",
        'missing required key "free_product"',
        id="free-product-missing",
    ),
    pytest.param(
        'free_product = "free"',
        'free_product = "free"\nfree_products = "free"',
        "catalog",
        'unknown key "free_products" (did you mean "free_product"?)',
        id="catalog-unknown-key",
    ),
    pytest.param(
        "",
        SECOND_FREE,
        "products",
        "only one product may be free, found: free, free_plus",
        id="two-free-products",
    ),
    # plans
    pytest.param(
        'product = "premium_solo"',
        'product = "premium_duo"',
        "plans.premium_solo_monthly",
        'product "premium_duo" is not defined in [products]',
        id="plan-product-undefined",
    ),
    pytest.param(
        'product = "premium_solo"',
        'product = "free"',
        "plans.premium_solo_monthly",
        'product "free" is the free product, which has no plans',
        id="plan-of-free-product",
    ),
    pytest.param(
        'product = "premium_solo"\n',
        "",
        "plans.premium_solo_monthly",
        'missing required key "product"',
        id="plan-product-missing",
    ),
    pytest.param(
        "",
        '\n[plans.Monthly]\nproduct = "premium_solo"\ninterval = "month"\nprices = { SE = "1" }\n',
        "plans.Monthly",
        'plan id "Monthly" must be 2-64 characters',
        id="plan-id-invalid",
    ),
    pytest.param(
        'interval = "month"',
        'interval = "fortnight"',
        "plans.premium_solo_monthly",
        'interval "fortnight" must be one of: day, week, month, year',
        id="interval-unknown",
    ),
    pytest.param(
        'interval = "month"',
        'interval = "Month"',
        "plans.premium_solo_monthly",
        'interval "Month" must be one of',
        id="interval-capitalised",
    ),
    pytest.param(
        'interval = "month"\n',
        "",
        "plans.premium_solo_monthly",
        'missing required key "interval"',
        id="interval-missing",
    ),
    pytest.param(
        'interval = "month"',
        'interval = "month"\ninterval_count = 0',
        "plans.premium_solo_monthly",
        "interval_count must be between 1 and 36, not 0",
        id="interval-count-zero",
    ),
    pytest.param(
        'interval = "month"',
        'interval = "month"\ninterval_count = 37',
        "plans.premium_solo_monthly",
        "interval_count must be between 1 and 36, not 37",
        id="interval-count-too-large",
    ),
    pytest.param(
        'interval = "month"',
        'interval = "month"\ninterval_count = true',
        "plans.premium_solo_monthly",
        "interval_count must be an integer, not a boolean",
        id="interval-count-bool",
    ),
    pytest.param(
        'interval = "month"',
        'interval = "month"\ninterval_count = 1.0',
        "plans.premium_solo_monthly",
        "interval_count must be an integer, not a float",
        id="interval-count-float",
    ),
    pytest.param(
        "trial_days = 30",
        "trial_days = -1",
        "plans.premium_solo_monthly",
        "trial_days must be between 0 and 365, not -1",
        id="trial-days-negative",
    ),
    pytest.param(
        "trial_days = 30",
        "trial_days = 366",
        "plans.premium_solo_monthly",
        "trial_days must be between 0 and 365, not 366",
        id="trial-days-too-long",
    ),
    pytest.param(
        "trial_days = 30",
        "trial_days = false",
        "plans.premium_solo_monthly",
        "trial_days must be an integer, not a boolean",
        id="trial-days-bool",
    ),
    pytest.param(
        "trial_days = 30",
        "trial_days = 30\ntrail_days = 30",
        "plans.premium_solo_monthly",
        'unknown key "trail_days" (did you mean "trial_days"?)',
        id="plan-unknown-key",
    ),
    # prices
    pytest.param(
        'SE = "129.00"',
        'SE = "129.001"',
        "plans.premium_solo_monthly",
        'prices.SE: "129.001" has more decimals than SEK allows (2)',
        id="price-too-many-decimals",
    ),
    pytest.param(
        'JP = "1480"',
        'JP = "1480.5"',
        "plans.premium_solo_monthly",
        'prices.JP: "1480.5" has more decimals than JPY allows (0)',
        id="price-decimals-in-jpy",
    ),
    pytest.param(
        'KW = "2.500"',
        'KW = "2.5001"',
        "plans.premium_solo_monthly",
        'prices.KW: "2.5001" has more decimals than KWD allows (3)',
        id="price-too-many-decimals-kwd",
    ),
    pytest.param(
        'SE = "129.00"',
        'SE = "129.00"\nUS = "11.99"',
        "plans.premium_solo_monthly",
        'prices.US: market "US" is not defined in [markets]',
        id="price-market-undefined",
    ),
    pytest.param(
        'SE = "129.00"',
        'SE = "0.00"',
        "plans.premium_solo_monthly",
        'prices.SE: price "0.00" must be greater than 0',
        id="price-zero",
    ),
    pytest.param(
        'SE = "129.00"',
        'SE = "-129.00"',
        "plans.premium_solo_monthly",
        'prices.SE: price "-129.00" must be greater than 0',
        id="price-negative",
    ),
    pytest.param(
        'SE = "129.00"',
        "SE = 129.0",
        "plans.premium_solo_monthly",
        "prices.SE must be a quoted decimal string such as",
        id="price-float",
    ),
    pytest.param(
        'SE = "129.00"',
        "SE = 129",
        "plans.premium_solo_monthly",
        "prices.SE must be a quoted decimal string such as",
        id="price-int",
    ),
    pytest.param(
        'SE = "129.00"',
        'SE = "129,00"',
        "plans.premium_solo_monthly",
        'prices.SE: "129,00" is not a decimal number',
        id="price-decimal-comma",
    ),
    pytest.param(
        'SE = "129.00"',
        'SE = "SEK 129.00"',
        "plans.premium_solo_monthly",
        'prices.SE: "SEK 129.00" is not a decimal number',
        id="price-with-currency",
    ),
    pytest.param(
        '[plans.premium_solo_monthly.prices]\nSE = "129.00"\nJP = "1480"\nKW = "2.500"\n',
        "[plans.premium_solo_monthly.prices]\n",
        "plans.premium_solo_monthly",
        "prices is empty; a plan must be priced in at least one market",
        id="prices-empty",
    ),
    pytest.param(
        '[plans.premium_solo_monthly.prices]\nSE = "129.00"\nJP = "1480"\nKW = "2.500"\n',
        "",
        "plans.premium_solo_monthly",
        'missing required key "prices"',
        id="prices-missing",
    ),
    # the document's shape
    pytest.param(
        "",
        '\n[plan.premium_solo_annual]\nproduct = "premium_solo"\n',
        "(top level)",
        'unknown key "plan" (did you mean "plans"?)',
        id="top-level-unknown-table",
    ),
    pytest.param(
        "",
        '\n[markets]\nUS = "USD"\n',
        "markets.US",
        "must be a table, not a string",
        id="market-not-a-table",
    ),
]


@pytest.mark.parametrize(("old", "new", "entry", "message"), REJECTIONS)
def test_rejection_names_file_entry_and_problem(
    old: str, new: str, entry: str, message: str
) -> None:
    problems = problems_of(edit(old, new))

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{SOURCE}: {entry}: "), problems[0]
    assert message in problems[0]


def test_exact_message_for_too_many_decimals() -> None:
    problems = problems_of(edit('SE = "129.00"', 'SE = "129.001"'))

    assert problems == [
        'test.toml: plans.premium_solo_monthly: prices.SE: "129.001" has more decimals than '
        "SEK allows (2)"
    ]


def test_no_free_product_is_reported() -> None:
    problems = problems_of(edit("accounts = 1\nfree = true\n", "accounts = 1\n"))

    assert f"{SOURCE}: products: no product has free = true; exactly one must" in problems
    assert f'{SOURCE}: catalog: free_product "free" does not have free = true' in problems
    assert len(problems) == 2


@pytest.mark.parametrize("table", ["catalog", "markets", "products", "plans"])
def test_missing_top_level_table_is_reported(table: str) -> None:
    # Keep the rest of the document valid TOML by renaming the table rather than deleting it.
    text = VALID.replace(f"[{table}.", f"[unused_{table}.").replace(
        f"[{table}]", f"[unused_{table}]"
    )

    problems = problems_of(text)

    assert f"{SOURCE}: {table}: table [{table}] is missing" in problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('tax_rate = "25"', 'tax_rate = "100"', Fraction(1)),
        ('tax_rate = "25"', 'tax_rate = "0"', Fraction(0)),
        ('tax_rate = "25"', 'tax_rate = "7.25"', Fraction(29, 400)),
        ('tax_rate = "25"', 'tax_rate = "9.250"', Fraction(37, 400)),
    ],
)
def test_tax_rate_is_an_exact_fraction_of_the_percentage(
    old: str, new: str, expected: Fraction
) -> None:
    catalog = parse_catalog(edit(old, new), SOURCE)

    assert catalog.markets["SE"].tax_rate == expected
    assert type(catalog.markets["SE"].tax_rate) is Fraction


@pytest.mark.parametrize(
    ("old", "new", "market", "amount"),
    [
        ('KW = "2.500"', 'KW = "2.5"', "KW", 2500),
        ('KW = "2.500"', 'KW = "0.001"', "KW", 1),
        ('JP = "1480"', 'JP = "1480.000"', "JP", 1480),
        ('SE = "129.00"', 'SE = "129"', "SE", 12900),
    ],
)
def test_prices_with_fewer_decimals_or_trailing_zeros_are_exact(
    old: str, new: str, market: str, amount: int
) -> None:
    catalog = parse_catalog(edit(old, new), SOURCE)

    assert catalog.plans["premium_solo_monthly"].prices[market] == amount


def test_boundary_values_are_accepted() -> None:
    text = edit("trial_days = 30", "trial_days = 365\ninterval_count = 36")
    text = edit('family = "premium"\naccounts = 1', 'family = "premium"\naccounts = 1000', text)

    catalog = parse_catalog(text, SOURCE)

    plan = catalog.plans["premium_solo_monthly"]
    assert (plan.trial_days, plan.interval_count) == (365, 36)
    assert catalog.products["premium_solo"].accounts == 1000


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = edit('currency = "SEK"', 'currency = "XYZ"')
    text = edit('family = "premium"\naccounts = 1', 'family = "premium"\naccounts = 0', text)
    text = edit('interval = "month"', 'interval = "fortnight"', text)
    text = edit('SE = "129.00"', 'SE = "129.00"\nUS = "11.99"', text)
    text = edit('KW = "2.500"', 'KW = "2.5001"', text)
    text = edit("trial_days = 30", "trial_days = 30\ntrail_days = 30", text)

    problems = problems_of(text)

    assert problems == [
        'test.toml: markets.SE: currency "XYZ" is not a known ISO 4217 currency code',
        "test.toml: products.premium_solo: accounts must be at least 1, not 0",
        'test.toml: plans.premium_solo_monthly: unknown key "trail_days" '
        '(did you mean "trial_days"?)',
        'test.toml: plans.premium_solo_monthly: interval "fortnight" must be one of: '
        "day, week, month, year",
        'test.toml: plans.premium_solo_monthly: prices.US: market "US" is not defined in [markets]',
        'test.toml: plans.premium_solo_monthly: prices.KW: "2.5001" has more decimals than '
        "KWD allows (3)",
    ]


def test_several_problems_in_one_entry_are_all_reported() -> None:
    text = edit(
        'name = "Premium Solo"\nfamily = "premium"\naccounts = 1',
        'nme = "Premium Solo"\nfamily = ""\naccounts = false',
    )

    problems = problems_of(text)

    assert len(problems) == 4, problems
    assert all(p.startswith("test.toml: products.premium_solo: ") for p in problems)
    assert any('unknown key "nme"' in p for p in problems)
    assert any('missing required key "name"' in p for p in problems)
    assert any("family must be a non-empty string" in p for p in problems)
    assert any("accounts must be an integer, not a boolean" in p for p in problems)


def test_free_flag_must_be_a_bool() -> None:
    problems = problems_of(edit("accounts = 1\nfree = true", 'accounts = 1\nfree = "yes"'))

    # Without a valid flag there is no free product, so that is reported as well.
    assert problems[0] == "test.toml: products.free: free must be true or false, not a string"
    assert "test.toml: products: no product has free = true; exactly one must" in problems


def test_catalog_error_lists_problems_one_per_line() -> None:
    text = edit('currency = "SEK"', 'currency = "XYZ"')
    text = edit("trial_days = 30", "trial_days = 400", text)

    with pytest.raises(CatalogError) as info:
        parse_catalog(text, SOURCE)

    assert str(info.value).splitlines() == info.value.problems
    assert len(info.value.problems) == 2


def test_toml_syntax_error_names_the_source_and_line() -> None:
    text = edit('family = "premium"', 'family = "premium')
    line = text.splitlines().index('family = "premium') + 1

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].startswith(f"{SOURCE}: invalid TOML: ")
    assert f"line {line}," in problems[0]


# --- Files ----------------------------------------------------------------------------------


def test_load_catalog_from_a_file_uses_its_path_as_source(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(VALID, encoding="utf-8")

    catalog = load_catalog(path)

    assert catalog.source == str(path)
    assert catalog.plans["premium_solo_monthly"].prices["SE"] == 12900
    assert load_catalog(str(path)).source == str(path)


def test_problems_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(edit('product = "premium_solo"', 'product = "premium_duo"'), encoding="utf-8")

    with pytest.raises(CatalogError) as info:
        load_catalog(path)

    assert info.value.problems == [
        f'{path}: plans.premium_solo_monthly: product "premium_duo" is not defined in [products]'
    ]


def test_toml_syntax_error_in_a_file_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text("[catalog]\nfree_product = \n", encoding="utf-8")

    with pytest.raises(CatalogError) as info:
        load_catalog(path)

    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{path}: invalid TOML: ")
    assert "line 2" in info.value.problems[0]


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(CatalogError) as info:
        load_catalog(path)

    assert info.value.problems == [f"{path}: cannot read catalog: No such file or directory"]


def test_non_utf8_file_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(VALID.replace("Premium Solo", "Prémium").encode("latin-1"))

    with pytest.raises(CatalogError) as info:
        load_catalog(path)

    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{path}: not valid UTF-8")
