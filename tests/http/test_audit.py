"""Audit trail: support and money actions by a person's key need a reason, and each writes an
append-only record (actor, role, action, target, reason, request id, before/after) readable at
GET /v1/audit_log; the database refuses to change or delete one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tenure.db.engine import Database
from tests.support.api import AUTH, Api


async def _key(api: Api, **body: Any) -> dict[str, str]:
    created = await api.ok("POST", "/v1/api_keys", {"name": "k", **body})
    return {"Authorization": f"Bearer {created['secret']}", "_id": created["id"]}


def _auth(key: dict[str, str]) -> dict[str, str]:
    return {"Authorization": key["Authorization"]}


async def test_support_actions_need_a_reason_and_land_in_the_audit_log(api: Api) -> None:
    support = await _key(api, role="support", reason="hired Alex")
    customer = await api.customer()
    sub = await api.subscribe(customer)
    invoice = (await api.invoices(customer))[0]
    assert invoice["status"] == "paid"

    # Refund: a reason is required of a person (and of anyone, by the refund rule).
    refused = await api.client.post(
        f"/v1/invoices/{invoice['id']}/refund", json={"reason": " "}, headers=_auth(support)
    )
    assert refused.status_code == 422 and refused.json()["code"] == "reason_required"
    refunded = await api.client.post(
        f"/v1/invoices/{invoice['id']}/refund",
        json={"reason": "double charged", "amount": 100},
        headers={**_auth(support), "X-Request-Id": "ticket-4711"},
    )
    assert refunded.status_code == 201, refunded.text

    # Grant and its revocation.
    granted = await api.client.post(
        f"/v1/customers/{customer}/grants",
        json={"product": "premium_duo", "days": 7, "reason": "outage compensation"},
        headers=_auth(support),
    )
    assert granted.status_code == 201, granted.text
    grant = granted.json()["id"]
    no_reason = await api.client.delete(
        f"/v1/customers/{customer}/grants/{grant}", headers=_auth(support)
    )
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    revoked = await api.client.delete(
        f"/v1/customers/{customer}/grants/{grant}",
        params={"reason": "given by mistake"},
        headers=_auth(support),
    )
    assert revoked.status_code == 200, revoked.text

    # Cancel on behalf: refused without a reason, nothing changes.
    url = f"/v1/subscriptions/{sub['id']}/cancel"
    refused = await api.client.post(url, json={"at_period_end": True}, headers=_auth(support))
    assert refused.status_code == 422 and refused.json()["code"] == "reason_required"
    assert (await api.subscription(sub["id"]))["cancel_at_period_end"] is False
    canceled = await api.client.post(
        url,
        json={"at_period_end": True, "reason": "other", "comment": "customer phoned"},
        headers=_auth(support),
    )
    assert canceled.status_code == 200, canceled.text

    log = await api.ok("GET", "/v1/audit_log", customer=customer)
    actions = [entry["action"] for entry in log["data"]]
    assert actions == ["cancel_subscription", "revoke_grant", "create_grant", "refund_invoice"]
    by_action = {entry["action"]: entry for entry in log["data"]}
    refund = by_action["refund_invoice"]
    assert refund["actor"] == f"api:{support['_id']}" and refund["role"] == "support"
    assert refund["reason"] == "double charged" and refund["request_id"] == "ticket-4711"
    assert refund["target_id"] == invoice["id"] and refund["after"]["amount"] == 100
    cancel = by_action["cancel_subscription"]
    assert cancel["reason"] == "other: customer phoned"  # the customer's reason and words
    assert cancel["before"]["cancel_at_period_end"] is False
    assert cancel["after"]["cancel_at_period_end"] is True
    assert by_action["revoke_grant"]["reason"] == "given by mistake"

    # Filters.
    only = await api.ok("GET", "/v1/audit_log", action="refund_invoice")
    assert [entry["id"] for entry in only["data"]] == [refund["id"]]
    mine = await api.ok("GET", "/v1/audit_log", actor=f"api:{support['_id']}")
    assert len(mine["data"]) == 4
    page = await api.ok("GET", "/v1/audit_log", customer=customer, limit=2)
    assert page["has_more"] and len(page["data"]) == 2
    rest = await api.ok(
        "GET", "/v1/audit_log", customer=customer, limit=2, starting_after=page["next"]
    )
    assert [e["action"] for e in rest["data"]] == ["create_grant", "refund_invoice"]
    later = await api.ok("GET", "/v1/audit_log", since="2199-01-01T00:00:00Z")
    assert later["data"] == []
    bad = await api.get("/v1/audit_log", since="yesterday")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_timestamp"
    # The support role reads the log; a viewer may not.
    viewer = await _key(api, role="viewer", reason="read-only seat")
    assert (await api.client.get("/v1/audit_log", headers=_auth(viewer))).status_code == 403
    assert (await api.client.get("/v1/audit_log", headers=_auth(support))).status_code == 200


async def test_service_keys_need_no_reason_but_are_audited(api: Api) -> None:
    service = await _key(api, scopes=["subscriptions:write", "subscriptions:read"])
    customer = await api.customer()
    sub = await api.subscribe(customer)
    response = await api.client.post(
        f"/v1/subscriptions/{sub['id']}/cancel",
        json={"at_period_end": False},
        headers=_auth(service),
    )
    assert response.status_code == 200, response.text
    log = await api.ok("GET", "/v1/audit_log", target=sub["id"])
    (entry,) = log["data"]
    assert entry["role"] is None and entry["reason"] is None
    assert entry["actor"] == f"api:{service['_id']}" and entry["after"]["status"] == "canceled"


async def test_key_management_is_audited(api: Api) -> None:
    created = await api.ok("POST", "/v1/api_keys", {"name": "reader", "role": "viewer"})
    revoked = await api.client.delete(f"/v1/api_keys/{created['id']}", headers=AUTH)
    assert revoked.status_code == 200
    log = await api.ok("GET", "/v1/audit_log", target=created["id"])
    assert [entry["action"] for entry in log["data"]] == ["revoke_api_key", "create_api_key"]
    assert log["data"][1]["after"]["role"] == "viewer"
    assert "secret" not in str(log["data"])


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET reason = 'edited'", "DELETE FROM audit_log"]
)
async def test_the_database_refuses_to_change_audit_rows(
    api: Api, database_url: str, statement: str
) -> None:
    await api.ok("POST", "/v1/api_keys", {"name": "x", "role": "viewer"})
    database = Database(database_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.transaction() as session:
                await session.execute(text(statement))
        async with database.read() as session:
            reasons = (await session.execute(text("SELECT reason FROM audit_log"))).all()
        assert reasons and all(row[0] != "edited" for row in reasons)
    finally:
        await database.dispose()
