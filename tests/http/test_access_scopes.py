"""Scoped API keys: every route in /openapi.json, called with every role and a scoped service
key, answers 403 exactly when the table in docs/security.md says the key may not call it."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tenure.access.keys import KeyRing, ensure_key
from tenure.access.models import ApiKey
from tenure.access.scopes import ROLES, allows, granted
from tenure.api.authz import END_USER, PUBLIC, ROUTE_SCOPES
from tenure.db.engine import Database
from tests.support.api import AUTH, Api

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
_ROW = re.compile(r"^\| `(GET|POST|DELETE|PATCH|PUT) ([^`]+)` \| `?([^`|]+?)`? \|", re.M)


def documented() -> dict[tuple[str, str], str]:
    return {(m, p): s.strip() for m, p, s in _ROW.findall(DOC.read_text(encoding="utf-8"))}


def test_docs_table_is_the_code_table() -> None:
    assert documented() == dict(ROUTE_SCOPES)


async def operations(api: Api) -> list[tuple[str, str]]:
    document = (await api.client.get("/openapi.json")).json()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "delete", "patch", "put")
    ]


async def test_every_route_is_in_the_table_and_documents_its_scope(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            key = (method.upper(), path)
            if key not in ROUTE_SCOPES:
                missing.append(key)
                continue
            assert operation["x-required-scope"] == ROUTE_SCOPES[key]
            if ROUTE_SCOPES[key] not in (PUBLIC, END_USER):
                assert "403" in operation["responses"], key
    assert missing == [], "add these routes to api/authz.py ROUTE_SCOPES and docs/security.md"


def _fill(path: str) -> str:
    ids = {
        "customer_id": "cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA",
        "subscription_id": "sub_01JD3K6ZQ8N0V5X2T9E4M7B1CA",
        "invoice_id": "in_01JD3K6ZQ8N0V5X2T9E4M7B1CA",
        "key_id": "key_01JD3K6ZQ8N0V5X2T9E4M7B1CA",
        "notification_id": "1",
    }
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x_01JD3K6ZQ8N0V5X2T9E4M7B1CA"), path)


async def _key(api: Api, *, role: str | None = None, scopes: list[str] | None = None) -> str:
    body: dict[str, Any] = {"name": f"test {role or scopes}"}
    if role:
        body["role"] = role
        body["reason"] = "scope walk"
    else:
        body["scopes"] = scopes
    return str((await api.ok("POST", "/v1/api_keys", body))["secret"])


async def test_every_route_with_every_role_matches_the_table(api: Api) -> None:
    holders: dict[str, tuple[str, frozenset[str]]] = {}
    for role in ROLES:
        holders[role] = (await _key(api, role=role), granted(ROLES[role]))
    service = ["entitlements:read", "customers:read"]
    holders["service"] = (await _key(api, scopes=service), frozenset(service))
    checked = 0
    for method, path in await operations(api):
        needed = ROUTE_SCOPES[(method, path)]
        url = _fill(path)
        if needed == PUBLIC:
            response = await api.client.request(method, url, content=b"{}")
            assert response.status_code != 403
            assert (
                response.json().get("code") != "unauthorized"
                or "providers" in path
                or ("stores" in path)
            ), (method, path, response.text)
            continue
        for name, (secret, held) in holders.items():
            response = await api.client.request(
                method,
                url,
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
                content=b"{}" if method in ("POST", "PATCH") else None,
            )
            expected = False if needed == END_USER else allows(held, needed)
            denied = response.status_code == 403
            assert denied != expected, (name, method, path, response.status_code, response.text)
            if denied:
                code = response.json()["code"]
                assert code == (
                    "end_user_token_required" if needed == END_USER else "insufficient_scope"
                )
            checked += 1
    assert checked > 300


async def test_key_lifecycle_secret_once_prefix_in_lists_revoked_within_a_second(
    api: Api, database_url: str
) -> None:
    created = await api.ok(
        "POST", "/v1/api_keys", {"name": "entitlements reader", "scopes": ["entitlements:read"]}
    )
    secret = created["secret"]
    assert secret.startswith("sk_") and created["prefix"] == secret[:10]
    assert created["scopes"] == ["entitlements:read"] and created["role"] is None
    listed = await api.ok("GET", "/v1/api_keys")
    mine = [key for key in listed["data"] if key["id"] == created["id"]]
    assert mine and "secret" not in mine[0] and mine[0]["prefix"] == secret[:10]
    assert secret not in (await api.client.get("/v1/api_keys", headers=AUTH)).text
    auth = {"Authorization": f"Bearer {secret}"}
    assert (await api.client.get("/v1/entitlements/nobody", headers=auth)).status_code == 404
    assert (await api.client.get("/v1/customers", headers=auth)).status_code == 403
    # Another process that has the key cached.
    other = Database(database_url)
    try:
        ring = KeyRing(other)
        assert (await ring.resolve(secret)) is not None
        revoked = await api.client.delete(f"/v1/api_keys/{created['id']}", headers=AUTH)
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        await asyncio.sleep(KeyRing.SWEEP + 0.05)
        assert (await api.client.get("/v1/entitlements/nobody", headers=auth)).status_code == 401
        assert (await ring.resolve(secret)) is None
    finally:
        await other.dispose()
    again = await api.client.delete(f"/v1/api_keys/{created['id']}", headers=AUTH)
    assert again.status_code == 200  # idempotent
    missing = await api.client.delete("/v1/api_keys/key_01JD3K6ZQ8N0V5X2T9E4M7B1CA", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["code"] == "api_key_not_found"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x"}, "invalid_key_grant"),
        ({"name": "x", "role": "viewer", "scopes": ["admin"]}, "invalid_key_grant"),
        ({"name": "x", "role": "root"}, "unknown_role"),
        ({"name": "x", "scopes": ["everything"]}, "unknown_scope"),
    ],
)
async def test_bad_grants_are_refused(api: Api, body: dict[str, Any], code: str) -> None:
    response = await api.post("/v1/api_keys", body)
    assert response.status_code == 422 and response.json()["code"] == code


async def test_a_person_key_needs_a_reason_to_manage_keys(api: Api) -> None:
    admin = await _key(api, role="admin")
    auth = {"Authorization": f"Bearer {admin}"}
    response = await api.client.post(
        "/v1/api_keys", json={"name": "n", "role": "viewer"}, headers=auth
    )
    assert response.status_code == 422 and response.json()["code"] == "reason_required"
    response = await api.client.post(
        "/v1/api_keys", json={"name": "n", "role": "viewer", "reason": "new agent"}, headers=auth
    )
    assert response.status_code == 201


async def test_last_used_at_is_written_in_batches(api: Api, database_url: str) -> None:
    database = Database(database_url)
    try:
        secret = f"sk_{uuid.uuid4().hex}"
        key_id = await ensure_key(database, secret, name="usage", scopes=["catalog:read"])
        ring = KeyRing(database)
        for _ in range(5):
            assert await ring.resolve(secret) is not None
        async with database.read() as session:
            assert (
                await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id)) is None
            )
        await ring.flush_usage()
        async with database.read() as session:
            used = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))
        assert used is not None
    finally:
        await database.dispose()


async def test_bad_status_filter_on_key_list(api: Api) -> None:
    response = await api.get("/v1/api_keys", status="lost")
    assert response.status_code == 400 and response.json()["code"] == "invalid_filter"
    assert isinstance(response, httpx.Response)


async def test_a_database_outage_keeps_cached_keys_working(database_url: str) -> None:
    from contextlib import asynccontextmanager

    database = Database(database_url)
    try:
        secret = f"sk_{uuid.uuid4().hex}"
        await ensure_key(database, secret, name="outage", scopes=["catalog:read"])
        ring = KeyRing(database)
        assert await ring.resolve(secret) is not None

        class Down:
            @asynccontextmanager
            async def read(self) -> Any:
                raise OSError("connection refused")
                yield  # pragma: no cover

        ring._db = Down()  # type: ignore[assignment]
        await asyncio.sleep(KeyRing.SWEEP + 0.05)
        assert (await ring.resolve(secret)) is not None  # the sweep failed quietly
    finally:
        await database.dispose()
