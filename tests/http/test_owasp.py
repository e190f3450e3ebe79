"""The OWASP API Security Top 10 (2023) checks that apply to Tenure, as tests.

API1 (BOLA) lives in test_me.py (every /v1/me route and every id-taking route with another
listener's ids: 0 successes) and API5 (function level authorization) in
test_access_scopes.py (every route x every role against docs/security.md). Here: broken
authentication, property-level authorization and mass assignment, unrestricted resource
consumption, SSRF through webhook URLs, misconfiguration (errors, secrets in answers), and the
inventory (every route is documented and guarded).
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from tenure.db.engine import Database
from tests.support.api import API_KEY, AUTH, Api


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) == "notification_id" else "x_1", path)


async def test_api2_no_route_works_without_a_valid_credential(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if operation["x-required-scope"] == "public":
                continue  # signed by the provider or store; verified by the route
            for header in (None, "Bearer wrong", f"Basic {API_KEY}", f"Bearer {API_KEY}x"):
                response = await api.client.request(
                    method.upper(),
                    _fill(path),
                    headers={"Authorization": header} if header else {},
                    json={} if method != "get" else None,
                )
                assert response.status_code == 401, (method, path, header, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")
                checked += 1
    assert checked > 250


async def test_api2_signed_routes_refuse_unsigned_calls(api: Api) -> None:
    for path in ("/v1/providers/stripe/webhooks", "/v1/providers/adyen/notifications"):
        response = await api.client.post(path, json={"type": "payment_intent.succeeded"})
        # Refused: a bad signature is 4xx; without a configured secret, 503 (never accepted).
        assert response.status_code >= 400, (path, response.text)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # Fields the server owns cannot be set by a caller.
        (
            "/v1/customers",
            {
                "external_id": "u-ma",
                "email": "a@example.com",
                "market": "SE",
                "id": "cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA",
            },
        ),
        (
            "/v1/customers",
            {
                "external_id": "u-ma2",
                "email": "a@example.com",
                "market": "SE",
                "erased_at": "2020-01-01T00:00:00Z",
            },
        ),
        ("/v1/api_keys", {"name": "k", "scopes": ["catalog:read"], "secret": "sk_mine"}),
        ("/v1/api_keys", {"name": "k", "scopes": ["catalog:read"], "prefix": "sk_admin"}),
        ("/v1/api_keys", {"name": "k", "scopes": ["catalog:read"], "last_used_at": None}),
        ("/v1/webhook_endpoints", {"url": "https://hooks.example.com/x", "secret": "whsec_x"}),
    ],
)
async def test_api3_mass_assignment_is_refused(
    api: Api, path: str, body: dict[str, object]
) -> None:
    response = await api.post(path, body)
    assert response.status_code in (400, 422), response.text


async def test_api3_customer_updates_cannot_change_identity(api: Api) -> None:
    customer = await api.customer(external_id="owner-1")
    for field, value in (("external_id", "someone-else"), ("market", "US"), ("id", "cus_x")):
        response = await api.post(f"/v1/customers/{customer}", {field: value})
        assert response.status_code in (400, 422), (field, response.text)
    assert (await api.ok("GET", f"/v1/customers/{customer}"))["external_id"] == "owner-1"


async def test_api3_answers_never_carry_secrets_or_hashes(api: Api, database: Database) -> None:
    created = await api.ok("POST", "/v1/api_keys", {"name": "x", "scopes": ["catalog:read"]})
    endpoint = await api.ok("POST", "/v1/webhook_endpoints", {"url": "https://hooks.example.com/a"})
    async with database.read() as session:
        digest = await session.scalar(
            text("SELECT secret_hash FROM api_keys WHERE id = :id"), {"id": created["id"]}
        )
    for path in (
        "/v1/api_keys",
        f"/v1/api_keys/{created['id']}",
        f"/v1/webhook_endpoints/{endpoint['id']}",
        "/v1/webhook_endpoints",
        "/v1/audit_log",
    ):
        answer = (await api.client.get(path, headers=AUTH)).text
        assert created["secret"] not in answer and str(digest) not in answer, path
        assert endpoint["secret"] not in answer, path


async def test_api4_resource_consumption_is_bounded(api: Api) -> None:
    for path in ("/v1/customers?limit=1000", "/v1/invoices?limit=101", "/v1/audit_log?limit=0"):
        response = await api.client.get(path, headers=AUTH)
        assert response.status_code == 422 and response.json()["code"] == "invalid_limit", path
    batch = await api.post(
        "/v1/entitlements/batch", {"external_ids": [f"u{n}" for n in range(501)]}
    )
    assert batch.status_code == 422 and batch.json()["code"] == "invalid_batch"
    long_name = await api.post("/v1/api_keys", {"name": "x" * 101, "scopes": ["catalog:read"]})
    assert long_name.status_code in (400, 422)
    many = await api.post("/v1/api_keys", {"name": "x", "scopes": ["catalog:read"] * 41})
    assert many.status_code in (400, 422)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8000/hooks",
        "https://localhost/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/internal",
        "https://[::1]/hooks",
        "https://0.0.0.0/",
        "http://hooks.example.com/plain-http",
        "https://user:pass@hooks.example.com/",
        "file:///etc/passwd",
        "gopher://hooks.example.com/",
    ],
)
async def test_api7_webhook_urls_cannot_reach_internal_addresses(api: Api, url: str) -> None:
    response = await api.post("/v1/webhook_endpoints", {"url": url})
    assert response.status_code == 422, response.text
    codes = ("webhook_url_not_public", "invalid_webhook_url", "webhook_url_not_https")
    assert response.json()["code"] in codes


async def test_api8_errors_reveal_no_internals(api: Api) -> None:
    for method, path, body in (
        ("POST", "/v1/customers", "{not json"),
        ("GET", "/v1/customers/' OR 1=1 --", None),
        ("POST", "/v1/subscriptions", '{"customer": "cus_1", "plan": 7}'),
    ):
        response = await api.client.request(
            method, path, content=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        for leak in ("Traceback", "sqlalchemy", "SELECT", 'File "', "/site-packages/"):
            assert leak not in response.text, (path, leak)


async def test_api9_every_route_is_documented_and_guarded(api: Api) -> None:
    from tenure.api.authz import ROUTE_SCOPES

    document = (await api.client.get("/openapi.json")).json()
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert documented <= set(ROUTE_SCOPES)
    # A route that is not in the document does not exist.
    ghost = await api.client.get(f"/v1/internal/{uuid.uuid4().hex}", headers=AUTH)
    assert ghost.status_code == 404 and ghost.json()["code"] == "route_not_found"
