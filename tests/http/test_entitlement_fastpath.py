"""The entitlement reads answered before the framework give the routes' exact answers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tenure.access.keys import KeyRing
from tenure.api import fastpath, gate
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


# --- both routes: the fast path answers exactly what the full route answers ----------------------

_VOLATILE = {"x-request-id", "date", "server", "ratelimit-remaining", "ratelimit-reset"}


def _shape(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _VOLATILE}
    body: Any = response.content
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        body = {k: v for k, v in response.json().items() if k != "request_id"}
    return response.status_code, headers, body


async def _both(
    api: Api, monkeypatch: pytest.MonkeyPatch, path: str, headers: dict[str, str], *, cold: bool
) -> tuple[httpx.Response, httpx.Response]:
    """The same request through the fast path and through the full route only."""
    reader = api.client.app.state.runtime.entitlements
    if cold:
        reader.clear()
    fast = await api.client.get(path, headers=headers)
    with monkeypatch.context() as patched:
        patched.setattr(fastpath, "_target", lambda scope, state_of: None)  # full route only
        if cold:
            reader.clear()
        slow = await api.client.get(path, headers=headers)
    return fast, slow


@pytest.mark.parametrize("by", ["customer", "external_id"])
async def test_both_routes_answer_like_the_full_route(
    api: Api, monkeypatch: pytest.MonkeyPatch, by: str
) -> None:
    external = f"fast-{uuid.uuid4().hex[:8]}"
    customer = await api.customer(external_id=external)
    await api.subscribe(customer)
    path = (
        f"/v1/customers/{customer}/entitlements"
        if by == "customer"
        else f"/v1/entitlements/{external}"
    )
    reader_only = await api.ok(
        "POST", "/v1/api_keys", {"name": "reader", "scopes": ["customers:read"]}
    )
    other_scope = {"Authorization": f"Bearer {reader_only['secret']}"}
    warm = await api.client.get(path, headers=AUTH)
    etag = warm.headers["etag"]
    cases: list[tuple[str, dict[str, str], bool]] = [
        (path, AUTH, False),  # cached
        (path, AUTH, True),  # a miss: read from the database
        (path, {**AUTH, "If-None-Match": etag}, False),  # 304
        (path, {**AUTH, "If-None-Match": f'W/"x", {etag}'}, True),
        (path, {**AUTH, "If-None-Match": '"other"'}, False),
        (path, {}, False),  # 401 unauthorized
        (path, {"Authorization": "Bearer wrong"}, False),
        (path, {"Authorization": "Basic abc"}, False),
        (path, other_scope, False),  # 403 insufficient_scope
        (path + "?expand=1", AUTH, False),  # 400 unknown_parameter
    ]
    if by == "customer":
        cases += [
            ("/v1/customers/cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA/entitlements", AUTH, True),  # 404
            ("/v1/customers/not-an-id/entitlements", AUTH, False),  # 404, malformed
        ]
    else:
        cases += [
            ("/v1/entitlements/nobody-here-at-all", AUTH, True),  # 404
            ("/v1/entitlements/" + "x" * 201, AUTH, False),
        ]
    for case_path, headers, cold in cases:
        fast, slow = await _both(api, monkeypatch, case_path, headers, cold=cold)
        assert _shape(fast) == _shape(slow), (case_path, headers)
        assert fast.headers["x-request-id"] != slow.headers["x-request-id"]
    statuses = [(await _both(api, monkeypatch, p, h, cold=c))[0].status_code for p, h, c in cases]
    assert statuses == [200, 200, 304, 304, 200, 401, 401, 401, 403, 400, 404, 404]


async def test_one_admission_per_request_shared_with_the_gate(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path admits with the gate's own function, and a request it hands on to the
    full route (403 here, or a customer without a row) is not authenticated or counted again."""
    assert fastpath.admit is gate.admit
    calls: list[str] = []
    real = gate.admit

    async def counting(scope: Any, send: Any, state: Any) -> Any:
        calls.append(scope["path"])
        return await real(scope, send, state)

    monkeypatch.setattr(gate, "admit", counting)
    monkeypatch.setattr(fastpath, "admit", counting)
    customer = await api.customer(external_id="fast-admit")
    reader_only = await api.ok(
        "POST", "/v1/api_keys", {"name": "reader", "scopes": ["customers:read"]}
    )
    calls.clear()
    for headers in (AUTH, AUTH, {"Authorization": f"Bearer {reader_only['secret']}"}):
        await api.client.get(f"/v1/customers/{customer}/entitlements", headers=headers)
    await api.client.get("/v1/customers", headers=AUTH)  # the gate alone
    assert calls == [f"/v1/customers/{customer}/entitlements"] * 3 + ["/v1/customers"]


async def test_revocation_and_changes_reach_the_customer_route(api: Api) -> None:
    customer = await api.customer(external_id="fast-cus")
    await api.subscribe(customer)
    path = f"/v1/customers/{customer}/entitlements"
    first = await api.client.get(path, headers=AUTH)
    assert first.json()["product"] == "premium_individual"
    created = await api.ok("POST", "/v1/api_keys", {"name": "svc", "scopes": ["entitlements:read"]})
    service = {"Authorization": f"Bearer {created['secret']}"}
    assert (await api.client.get(path, headers=service)).status_code == 200
    await api.ok_delete(f"/v1/api_keys/{created['id']}")
    await asyncio.sleep(KeyRing.SWEEP + 0.05)  # revocations reach every process this fast
    refused = await api.client.get(path, headers=service)
    assert refused.status_code == 401
    [sub] = (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"]
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    after = await api.client.get(path, headers=AUTH)
    assert after.json()["product"] == "free"
