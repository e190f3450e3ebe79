"""The cached entitlement read answered before the framework gives the route's exact answer."""

from __future__ import annotations

from tests.support.api import AUTH, Api


async def test_cached_reads_match_the_full_route_and_keep_auth(api: Api) -> None:
    customer = await api.customer(external_id="fast-1")
    await api.subscribe(customer)
    first = await api.client.get("/v1/entitlements/fast-1", headers=AUTH)  # fills the cache
    second = await api.client.get("/v1/entitlements/fast-1", headers=AUTH)  # from memory
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == first.headers["cache-control"]
    assert second.headers["content-type"].startswith("application/json")
    assert second.json()["product"] == "premium_individual"

    not_modified = await api.client.get(
        "/v1/entitlements/fast-1", headers={**AUTH, "If-None-Match": first.headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""

    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = await api.client.get("/v1/entitlements/fast-1", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"

    # A change is visible at once in this process: the commit drops the cached answer.
    [sub] = (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"]
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    after = await api.client.get("/v1/entitlements/fast-1", headers=AUTH)
    assert after.json()["product"] == "free"
    assert after.headers["etag"] != first.headers["etag"]


async def test_unknown_users_fall_through_to_a_404(api: Api) -> None:
    await api.customer(external_id="fast-2")
    await api.client.get("/v1/entitlements/fast-2", headers=AUTH)
    missing = await api.client.get("/v1/entitlements/nobody-here", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["code"] == "customer_not_found"
