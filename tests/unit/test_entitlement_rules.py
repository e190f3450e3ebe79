"""Entitlement precedence and household address hashing: pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.entitlements.rules import Candidate, Source, covers, decide
from tenure.households.address import address_hash, normalize

CATALOG = load_catalog(default_catalog_path())
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def features(product: str) -> dict[str, bool | int | str]:
    return dict(CATALOG.products[product].features)


def sub(product: str, status: str = "active") -> Candidate:
    return Candidate(
        Source.SUBSCRIPTION, product, status, "sub_1", T0, status == "past_due", "sub_1"
    )


def grant(product: str, days: int = 10, ref: str = "grt_1") -> Candidate:
    end = T0 + timedelta(days=days)
    return Candidate(Source.GRANT, product, "active", ref, end, expires_at=end)


def test_covers_is_strict() -> None:
    assert covers(features("premium_individual"), features("premium_student"))
    assert covers(features("premium_family"), features("premium_individual"))
    assert not covers(features("premium_duo"), features("premium_individual"))  # equal
    assert not covers(features("premium_student"), features("premium_individual"))
    assert not covers(features("free"), features("premium_student"))


def test_nothing_is_free() -> None:
    value = decide(CATALOG, [])
    assert (value.product, value.source, value.status) == ("free", "free", "free")


def test_a_paid_subscription_wins_over_a_grant_of_the_same_or_a_lesser_product() -> None:
    assert decide(CATALOG, [sub("premium_individual"), grant("premium_duo")]).source == (
        "subscription"
    )
    assert decide(CATALOG, [sub("premium_individual"), grant("premium_student")]).source == (
        "subscription"
    )


def test_a_grant_of_a_better_product_shows() -> None:
    value = decide(CATALOG, [sub("premium_student"), grant("premium_family")])
    assert (value.source, value.product, value.grant_id) == ("grant", "premium_family", "grt_1")


def test_own_subscription_beats_household_of_the_same_features() -> None:
    household = Candidate(
        Source.HOUSEHOLD, "premium_duo", "active", "hh_1", T0, False, "sub_2", "hh_1"
    )
    assert decide(CATALOG, [household, sub("premium_individual")]).source == "subscription"
    assert decide(CATALOG, [household, grant("premium_individual")]).source == "household"


def test_among_equal_grants_the_longest_wins() -> None:
    value = decide(
        CATALOG, [grant("premium_individual", 5, "grt_a"), grant("premium_individual", 9, "grt_b")]
    )
    assert value.grant_id == "grt_b"


@given(st.permutations(["premium_student", "premium_individual", "premium_family", "premium_duo"]))
def test_the_order_of_sources_does_not_matter(order: list[str]) -> None:
    candidates = [grant(p, i + 1, f"grt_{p}") for i, p in enumerate(order)]
    assert decide(CATALOG, candidates).product == "premium_family"


def test_addresses_normalize_case_spacing_and_punctuation() -> None:
    assert normalize("  12  Main St.,\tApt 4 ") == "12 main st apt 4"
    salt = "s"
    assert address_hash("12 Main St., Apt 4", salt) == address_hash("12 main st apt 4", salt)
    assert address_hash("12 Main St", salt) != address_hash("14 Main St", salt)
    assert address_hash("12 Main St", "a") != address_hash("12 Main St", "b")
    assert len(address_hash("x", salt)) == 64
