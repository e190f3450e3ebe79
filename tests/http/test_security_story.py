"""Issue 14's "done when", as one story through the API: a read-only entitlements key and a
support key, a listener's token from a test JWKS that cannot reach another listener, a refund
with a reason found in the audit log, a rate limit with its headers, and a customer exported
and erased while their invoices remain."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.settings import Settings
from tests.support.api import API_KEY, Api
from tests.support.jwks import AUDIENCE, ISSUER, IdentityProvider, rsa_key, serve


@pytest.fixture
async def story(database_url: str) -> AsyncIterator[tuple[Api, IdentityProvider]]:
    async with serve(IdentityProvider(keys=[rsa_key()])) as idp:
        settings = Settings(
            database_url=database_url,
            api_key=API_KEY,
            embedded_worker=False,
            migrate=False,
            jwt_jwks_url=idp.url,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            rate_limits="me=1/5,read=1000/1000,write=1000/1000,entitlements=1000/1000",
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield Api(client), idp


async def test_the_issue_story(story: tuple[Api, IdentityProvider]) -> None:
    api, idp = story
    c = api.client
    # Keys: a service that only reads entitlements, and a support agent.
    reader = await api.ok(
        "POST", "/v1/api_keys", {"name": "player", "scopes": ["entitlements:read"]}
    )
    support = await api.ok("POST", "/v1/api_keys", {"name": "Alex (support)", "role": "support"})
    as_reader = {"Authorization": f"Bearer {reader['secret']}"}
    as_support = {"Authorization": f"Bearer {support['secret']}"}

    ada, bo = f"ada-{uuid.uuid4().hex[:6]}", f"bo-{uuid.uuid4().hex[:6]}"
    ada_id = await api.customer(external_id=ada)
    bo_id = await api.customer(external_id=bo)
    await api.subscribe(ada_id)
    bo_sub = await api.subscribe(bo_id)
    assert (await c.get(f"/v1/entitlements/{ada}", headers=as_reader)).status_code == 200
    assert (await c.get(f"/v1/customers/{ada_id}", headers=as_reader)).status_code == 403

    # Ada's app: her token reaches her data and never Bo's.
    token = {"Authorization": f"Bearer {idp.token(ada)}"}
    me = await c.get("/v1/me", headers=token)
    assert me.status_code == 200 and me.json()["id"] == ada_id
    for path in (f"/v1/customers/{bo_id}", f"/v1/subscriptions/{bo_sub['id']}"):
        assert (await c.get(path, headers=token)).status_code in (401, 403)

    # Support refunds Bo's invoice with a reason; the audit log has it.
    invoice = (await api.invoices(bo_id))[0]
    refund = await c.post(
        f"/v1/invoices/{invoice['id']}/refund",
        json={"reason": "charged twice", "amount": 500},
        headers=as_support,
    )
    assert refund.status_code == 201, refund.text
    log = await c.get("/v1/audit_log", params={"action": "refund_invoice"}, headers=as_support)
    (entry,) = log.json()["data"]
    assert (entry["actor"], entry["role"], entry["reason"]) == (
        f"api:{support['id']}",
        "support",
        "charged twice",
    )

    # Ada's app calls too often: 429 with the headers.
    statuses = [(await c.get("/v1/me", headers=token)) for _ in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert limited[0].headers["retry-after"] and limited[0].headers["ratelimit-limit"] == "5"
    assert limited[0].headers["ratelimit-remaining"] == "0"

    # Bo asks for his data, then to be forgotten: invoices remain.
    exported = await api.ok("GET", f"/v1/customers/{bo_id}/export")
    assert exported["invoices"][0]["id"] == invoice["id"]
    await api.ok("POST", f"/v1/subscriptions/{bo_sub['id']}/cancel", {"at_period_end": False})
    erased = await api.ok("POST", f"/v1/customers/{bo_id}/erase", {})
    assert erased["erased"] is True
    assert invoice["id"] in [i["id"] for i in await api.invoices(bo_id)]
    assert (await api.ok("GET", f"/v1/customers/{bo_id}"))["external_id"] != bo
