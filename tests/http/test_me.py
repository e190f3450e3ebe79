"""/v1/me with end users' JWTs: verified against a JWKS over HTTP (rotation, algorithms,
issuer, audience, expiry), and never reaching another listener's objects (BOLA)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.settings import Settings
from tests.support.api import API_KEY, AUTH, Api
from tests.support.jwks import AUDIENCE, ISSUER, IdentityProvider, ec_key, rsa_key, serve

PLAN = "premium_individual_monthly"


@pytest.fixture
async def idp() -> AsyncIterator[IdentityProvider]:
    async with serve(IdentityProvider(keys=[rsa_key("first")])) as provider:
        yield provider


@pytest.fixture
async def api(database_url: str, idp: IdentityProvider) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        jwt_jwks_url=idp.url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_jwks_refresh=0.0,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def listener(api: Api, name: str) -> dict[str, Any]:
    external = f"{name}-{uuid.uuid4().hex[:8]}"
    customer = await api.customer(external_id=external)
    sub = await api.subscribe(customer)
    invoice = (await api.invoices(customer))[0]
    return {"external": external, "customer": customer, "sub": sub["id"], "invoice": invoice["id"]}


async def test_a_listener_manages_their_own_subscription(api: Api, idp: IdentityProvider) -> None:
    external = f"alice-{uuid.uuid4().hex[:8]}"
    customer = await api.customer(external_id=external)
    me = bearer(idp.token(external))
    c = api.client
    first = await c.get("/v1/me", headers=me)
    assert first.status_code == 200, first.text
    assert first.json()["id"] == customer
    plans = (await c.get("/v1/me/plans", headers=me)).json()
    assert PLAN in plans_text(plans)
    none = await c.get("/v1/me/subscription", headers=me)
    assert none.status_code == 404 and none.json()["code"] == "subscription_not_found"
    created = await c.post(
        "/v1/me/subscription", json={"plan": PLAN, "payment_method": "pm_card_visa"}, headers=me
    )
    assert created.status_code == 201, created.text
    sub = created.json()["id"]
    assert (await c.get("/v1/me/subscription", headers=me)).json()["id"] == sub
    invoices = (await c.get("/v1/me/invoices", headers=me)).json()["data"]
    assert [invoice["customer"] for invoice in invoices] == [customer]
    methods = (await c.get("/v1/me/payment_methods", headers=me)).json()["data"]
    assert len(methods) == 1
    added = await c.post(
        "/v1/me/payment_methods", json={"payment_method": "pm_card_mastercard"}, headers=me
    )
    assert added.status_code == 201, added.text
    entitlements = await c.get("/v1/me/entitlements", headers=me)
    assert entitlements.status_code == 200 and entitlements.headers["etag"]
    changed = await c.post(
        "/v1/me/subscription/change", json={"plan": "premium_duo_monthly"}, headers=me
    )
    assert changed.status_code == 200, changed.text
    canceled = await c.post("/v1/me/subscription/cancel", json={}, headers=me)
    assert canceled.status_code == 200 and canceled.json()["cancel_at_period_end"] is True
    log = await api.ok("GET", "/v1/audit_log", target=sub)
    assert {entry["actor"] for entry in log["data"]} == {f"user:{customer}"}
    # Idempotency works per end user too.
    again = await c.post(
        "/v1/me/subscription/cancel", json={}, headers={**me, "Idempotency-Key": "k1"}
    )
    replay = await c.post(
        "/v1/me/subscription/cancel", json={}, headers={**me, "Idempotency-Key": "k1"}
    )
    assert again.status_code == replay.status_code == 409
    assert replay.headers.get("idempotent-replayed") == "true"


async def test_a_listener_pauses_resumes_and_cancels_with_a_reason(
    api: Api, idp: IdentityProvider
) -> None:
    external = f"paula-{uuid.uuid4().hex[:8]}"
    customer = await api.customer(external_id=external)
    me = bearer(idp.token(external))
    c = api.client
    created = await c.post(
        "/v1/me/subscription", json={"plan": PLAN, "payment_method": "pm_card_visa"}, headers=me
    )
    assert created.status_code == 201, created.text
    sub = created.json()["id"]
    both = await c.post(
        "/v1/me/subscription/pause", json={"periods": 1, "resumes_at": "2030-01-01T00:00:00Z"},
        headers=me,
    )  # fmt: skip
    assert both.status_code == 422 and both.json()["code"] == "invalid_pause"
    paused = await c.post("/v1/me/subscription/pause", json={"periods": 1}, headers=me)
    assert paused.status_code == 200, paused.text
    assert paused.json()["id"] == sub and paused.json()["pause"] is not None
    again = await c.post("/v1/me/subscription/pause", json={"periods": 1}, headers=me)
    assert again.status_code == 409, again.text
    resumed = await c.post("/v1/me/subscription/resume", json={}, headers=me)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["pause"] is None and resumed.json()["status"] == "active"
    lonely = await c.post("/v1/me/subscription/cancel", json={"comment": "meh"}, headers=me)
    assert lonely.status_code == 422 and lonely.json()["code"] == "invalid_cancel_reason"
    canceled = await c.post(
        "/v1/me/subscription/cancel",
        json={"reason": "too_expensive", "comment": "student budget"},
        headers=me,
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancellation"] == {
        "reason": "too_expensive",
        "comment": "student budget",
    }
    history = (await api.ok("GET", f"/v1/subscriptions/{sub}/history"))["data"]
    assert {h["actor"] for h in history[1:]} == {f"user:{customer}"}


ME_ROUTES = [
    ("GET", "/v1/me", None),
    ("GET", "/v1/me/plans", None),
    ("GET", "/v1/me/subscription", None),
    ("GET", "/v1/me/invoices", None),
    ("GET", "/v1/me/payment_methods", None),
    ("GET", "/v1/me/entitlements", None),
    ("POST", "/v1/me/subscription/change", {"plan": "premium_duo_monthly"}),
    ("POST", "/v1/me/subscription/pause", {"periods": 1}),
    ("POST", "/v1/me/subscription/resume", {}),
    ("POST", "/v1/me/subscription/cancel", {"at_period_end": True}),
]


async def test_a_token_never_reaches_another_listeners_objects(
    api: Api, idp: IdentityProvider
) -> None:
    alice = await listener(api, "alice")
    bob = await listener(api, "bob")
    token = bearer(idp.token(alice["external"]))
    bobs = {bob["customer"], bob["sub"], bob["invoice"], bob["external"]}
    # Every /v1/me route answers about alice only.
    for method, path, body in ME_ROUTES:
        response = await api.client.request(method, path, json=body, headers=token)
        assert response.status_code < 300, (path, response.text)
        assert not any(theirs in response.text for theirs in bobs), path
    # Naming bob in a body is refused (no field takes a customer).
    for path, body in [
        ("/v1/me/subscription", {"plan": PLAN, "customer": bob["customer"]}),
        ("/v1/me/subscription/change", {"plan": PLAN, "subscription": bob["sub"]}),
        ("/v1/me/payment_methods", {"payment_method": "pm_card_visa", "customer": bob["customer"]}),
    ]:
        response = await api.client.post(path, json=body, headers=token)
        assert response.status_code in (400, 422), (path, response.text)
    # Every id-taking route of the API, with bob's ids and alice's token: 0 successes.
    document = (await api.client.get("/openapi.json")).json()
    ids = {
        "customer_id": bob["customer"],
        "subscription_id": bob["sub"],
        "invoice_id": bob["invoice"],
        "external_id": bob["external"],
    }
    successes, tried = [], 0
    for path, item in document["paths"].items():
        if "{" not in path:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x_1"), path)
        for method in item:
            response = await api.client.request(
                method.upper(), url, json={} if method != "get" else None, headers=token
            )
            tried += 1
            if response.status_code < 300:
                successes.append((method, url))

    for _method, path, _ in ME_ROUTES[:6]:
        response = await api.client.get(path, params={"customer": bob["customer"]}, headers=token)
        if response.status_code < 300:
            assert not any(theirs in response.text for theirs in bobs), path
    assert tried > 40 and successes == []
    # Bob's things are unchanged.
    assert (await api.subscription(bob["sub"]))["cancel_at_period_end"] is False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(alg: str, claims: dict[str, Any], kid: str, key: bytes = b"") -> str:
    header = _b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signing = f"{header}.{payload}".encode()
    signature = hmac.new(key, signing, hashlib.sha256).digest() if key else b""
    return f"{header}.{payload}.{_b64(signature)}"


async def test_broken_tokens_are_refused(api: Api, idp: IdentityProvider) -> None:
    external = f"carol-{uuid.uuid4().hex[:8]}"
    await api.customer(external_id=external)
    key = idp.keys[0]
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": external, "exp": now + 300}
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bad = {
        "none": _unsigned("none", claims, key.kid),
        "hmac with the public key": _unsigned("HS256", claims, key.kid, public_pem),
        "expired": idp.token(external, expires_in=-120),
        "other issuer": idp.token(external, claims={"iss": "https://evil.test/"}),
        "other audience": idp.token(external, claims={"aud": "someone-else"}),
        "no expiry": _unsigned("none", {k: v for k, v in claims.items() if k != "exp"}, "x"),
        "unknown kid": idp.token(external, key=rsa_key("never-published")),
        "tampered": idp.token(external)[:-4] + "AAAA",
        "garbage": "a.b.c",
    }
    for why, token in bad.items():
        response = await api.client.get("/v1/me", headers=bearer(token))
        assert response.status_code == 401, (why, response.text)
        assert response.json()["code"] == "invalid_token", why
        assert token not in response.text
    # Within the leeway an expired token still passes (clock skew).
    assert (
        await api.client.get("/v1/me", headers=bearer(idp.token(external, expires_in=-5)))
    ).status_code == 200
    # An API key is not an end user's token, and a token is not an API key.
    refused = await api.client.get("/v1/me", headers=AUTH)
    assert refused.status_code == 403 and refused.json()["code"] == "end_user_token_required"
    other = await api.client.get("/v1/customers", headers=bearer(idp.token(external)))
    assert other.status_code == 401
    # A subject with no customer: 404, not someone else's record.
    ghost = await api.client.get("/v1/me", headers=bearer(idp.token("nobody-here")))
    assert ghost.status_code == 404 and ghost.json()["code"] == "customer_not_found"


async def test_keys_rotate_and_ec_keys_work(api: Api, idp: IdentityProvider) -> None:
    external = f"dave-{uuid.uuid4().hex[:8]}"
    await api.customer(external_id=external)
    assert (await api.client.get("/v1/me", headers=bearer(idp.token(external)))).status_code == 200
    fetched = idp.fetches
    # Cached: no fetch per request.
    assert (await api.client.get("/v1/me", headers=bearer(idp.token(external)))).status_code == 200
    assert idp.fetches == fetched
    # The IdP rotates to a new EC key: the unknown kid makes Tenure fetch the JWKS again.
    new = ec_key()
    idp.keys.append(new)
    rotated = await api.client.get("/v1/me", headers=bearer(idp.token(external, key=new)))
    assert rotated.status_code == 200, rotated.text
    assert idp.fetches == fetched + 1
    # An RS256 header on the EC key's kid: the algorithm must match the key.
    forged = _unsigned("RS256", {"sub": external}, new.kid)
    assert (await api.client.get("/v1/me", headers=bearer(forged))).status_code == 401


async def test_without_configuration_tokens_are_refused(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    token = IdentityProvider(keys=[rsa_key()]).token("someone")
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


def plans_text(body: Any) -> str:
    return json.dumps(body)


async def test_an_unreachable_identity_provider_is_503_not_401(database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        jwt_jwks_url="http://127.0.0.1:1/jwks.json",  # nothing listens there
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    token = IdentityProvider(keys=[rsa_key()]).token("someone")
    async with AsyncTestClient(app=create_app(settings)) as client:
        for _ in range(2):  # the first fetch fails; the next request does not refetch at once
            response = await client.get("/v1/me", headers=bearer(token))
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "identity_provider_unavailable"
            assert response.headers["retry-after"] == "5"
