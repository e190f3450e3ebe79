"""The catalog's ``[lifecycle]`` table (issue 12): parsing, validation and resolution."""

from __future__ import annotations

from tenure.catalog.lifecycle import SETTINGS
from tenure.catalog.loader import default_catalog_path, load_catalog, parse_catalog
from tenure.catalog.model import Lifecycle
from tests.unit.test_catalog_loader import SOURCE, VALID, problems_of

LIFECYCLE = """
[lifecycle]
trial_requires_payment_method = true

[lifecycle.overrides.jp]
market = "JP"
trial_requires_payment_method = false

[lifecycle.overrides.jp_solo]
market = "JP"
product = "premium_solo"
trial_requires_payment_method = true
"""


def test_without_a_lifecycle_table_everything_takes_the_built_in_defaults() -> None:
    catalog = parse_catalog(VALID, SOURCE)
    assert catalog.lifecycle_for("SE", "premium_solo") == Lifecycle()
    assert Lifecycle().trial_requires_payment_method is True


def test_the_most_specific_override_wins() -> None:
    catalog = parse_catalog(VALID + LIFECYCLE, SOURCE)
    assert catalog.lifecycle_for("SE", "premium_solo").trial_requires_payment_method is True
    assert catalog.lifecycle_for("JP", "other").trial_requires_payment_method is False
    assert catalog.lifecycle_for("JP", "premium_solo").trial_requires_payment_method is True


def test_the_default_catalog_lets_premium_individual_trials_in_the_us_start_without_a_card() -> (
    None
):
    catalog = load_catalog(default_catalog_path())
    assert not catalog.lifecycle_for("US", "premium_individual").trial_requires_payment_method
    assert catalog.lifecycle_for("US", "premium_family").trial_requires_payment_method
    assert catalog.lifecycle_for("SE", "premium_individual").trial_requires_payment_method


def test_every_problem_is_reported_with_its_entry() -> None:
    text = (
        VALID
        + """
[lifecycle]
trial_requires_payment_method = "no"
trial_requires_card = true

[lifecycle.overrides.zz]
market = "ZZ"
trial_requires_payment_method = false

[lifecycle.overrides.empty]
product = "premium_solo"

[lifecycle.overrides.nowhere]
trial_requires_payment_method = false

[lifecycle.overrides.twice]
product = "premium_solo"
trial_requires_payment_method = true
"""
    )
    assert problems_of(text) == [
        'test.toml: lifecycle: unknown key "trial_requires_card" (did you mean '
        '"trial_requires_payment_method"?)',
        "test.toml: lifecycle: trial_requires_payment_method must be true or false, not 'no'",
        'test.toml: lifecycle.overrides.zz: market "ZZ" is not defined in [markets]',
        "test.toml: lifecycle.overrides.empty: an override must set at least one of: "
        + ", ".join(SETTINGS),
        'test.toml: lifecycle.overrides.nowhere: an override needs "market", "product" or both',
        "test.toml: lifecycle.overrides.twice: covers the same market and product as "
        "lifecycle.overrides.empty",
    ]


def test_change_policies_take_an_anchor_with_or_without_at() -> None:
    text = (
        VALID
        + """
[plans.premium_solo_annual]
product = "premium_solo"
interval = "year"
[plans.premium_solo_annual.prices]
SE = "1290.00"

[[change_policies]]
from = "premium_solo_monthly"
to = "premium_solo_annual"
anchor = "keep"

[[change_policies]]
from = "premium_solo_annual"
to = "premium_solo_monthly"
at = "period_end"
anchor = "reset"
"""
    )
    catalog = parse_catalog(text, SOURCE)
    assert catalog.change_anchors == {
        ("premium_solo_monthly", "premium_solo_annual"): "keep",
        ("premium_solo_annual", "premium_solo_monthly"): "reset",
    }
    assert catalog.change_policies == {
        ("premium_solo_annual", "premium_solo_monthly"): "period_end"
    }
    bad = text.replace('anchor = "keep"', 'anchor = "move"')
    assert problems_of(bad) == [
        'test.toml: change_policies[0]: anchor "move" must be one of: reset, keep'
    ]
    empty = text.replace('anchor = "keep"\n', "")
    assert problems_of(empty) == [
        'test.toml: change_policies[0]: a change policy must set "at", "anchor" or both'
    ]


def test_first_period_is_prorate_or_free() -> None:
    catalog = parse_catalog(VALID + '\n[lifecycle]\nfirst_period = "free"\n', SOURCE)
    assert catalog.lifecycle_for("SE", "premium_solo").first_period == "free"
    assert parse_catalog(VALID, SOURCE).lifecycle_for("SE", "x").first_period == "prorate"
    assert problems_of(VALID + '\n[lifecycle]\nfirst_period = "half"\n') == [
        'test.toml: lifecycle: first_period "half" must be one of: prorate, free'
    ]
