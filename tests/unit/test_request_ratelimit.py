"""Request rate limits: configuration, route classes and the GCRA decisions (no clock reads)."""

from __future__ import annotations

import pytest

from tenure.api.ratelimit import DEFAULTS, LocalLimiter, Rule, parse_rules, route_class


def test_rules_from_configuration() -> None:
    assert parse_rules(None) == {name: Rule(*value) for name, value in DEFAULTS.items()}
    assert parse_rules("off") == {}
    rules = parse_rules("read=10/20, write=0")
    assert rules["read"] == Rule(10.0, 20) and "write" not in rules
    assert rules["entitlements"] == Rule(*DEFAULTS["entitlements"])
    for bad in ("reads=1/2", "read=fast", "read=1/0"):
        with pytest.raises(ValueError, match="TENURE_RATE_LIMITS"):
            parse_rules(bad)


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/v1/me", "me"),
        ("POST", "/v1/me/subscription/cancel", "me"),
        ("GET", "/v1/entitlements/user-1", "entitlements"),
        ("POST", "/v1/entitlements/batch", "entitlements"),
        ("GET", "/v1/customers/cus_1/entitlements", "entitlements"),
        ("GET", "/v1/customers", "read"),
        ("POST", "/v1/customers", "write"),
        ("DELETE", "/v1/api_keys/key_1", "write"),
        ("GET", "/v1/meters", "read"),
    ],
)
def test_route_classes(method: str, path: str, kind: str) -> None:
    assert route_class(method, path) == kind


def test_gcra_burst_then_rate_and_refusals_cost_nothing() -> None:
    now = [100.0]
    limiter = LocalLimiter(monotonic=lambda: now[0])
    rule = Rule(rate=2.0, burst=3)
    decisions = [limiter.hit_now("k", rule) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = limiter.hit_now("k", rule)
    assert not refused.allowed and refused.retry_after == pytest.approx(0.5)
    assert ("retry-after", "1") in [(k.decode(), v.decode()) for k, v in refused.headers()]
    for _ in range(10):  # refusals do not push the budget further away
        assert not limiter.hit_now("k", rule).allowed
    now[0] += 0.5
    assert limiter.hit_now("k", rule).allowed
    assert not limiter.hit_now("k", rule).allowed
    assert limiter.hit_now("other", rule).allowed  # another caller has its own budget
    now[0] += 10
    full = limiter.hit_now("k", rule)
    assert full.allowed and full.remaining == 2
