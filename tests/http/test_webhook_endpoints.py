"""Webhook endpoints over HTTP: register, validate, inspect deliveries, replay, and the
walkthrough with a local receiver seeing every event signed and verifiable."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.flows.assembly import assemble
from tenure.payments.sandbox import SandboxProvider
from tenure.workers.relay import Relay
from tenure.workers.webhook_sink import WebhookSink
from tests.support.api import Api
from tests.support.receiver import Receiver

PATH = "/v1/webhook_endpoints"


async def relay_until_idle(database_url: str) -> None:
    """A relay of its own (the app's engine belongs to the test client's event loop)."""
    database = Database(database_url)
    runtime = assemble(
        db=database,
        catalog=load_catalog(default_catalog_path()),
        provider=SandboxProvider(database),
    )
    relay = Relay(runtime, [WebhookSink(runtime.clock, allow_private=True)], rng=random.Random(1))
    try:
        while await relay.run_once():
            pass
    finally:
        await relay.close()
        await database.dispose()


async def problem(api: Api, method: str, path: str, body: Any, status: int, code: str) -> None:
    if method == "POST":
        response = await api.post(path, body)
    else:
        response = await api.client.request(
            method, path, json=body, headers={"Authorization": "Bearer test-key"}
        )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.text


async def test_register_shows_the_secret_once(api: Api) -> None:
    created = await api.ok(
        "POST", PATH, {"url": "https://hooks.example.com/tenure", "description": "CRM"}
    )
    assert created["id"].startswith("we_") and created["event_types"] == ["*"]
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    shown = await api.ok("GET", f"{PATH}/{created['id']}")
    assert "secret" not in shown and shown["status"] == "enabled"
    listed = await api.ok("GET", PATH)
    assert [e["id"] for e in listed["data"]] == [created["id"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://hooks.example.com/x"}, "webhook_url_not_https"),
        ({"url": "https://10.0.0.8/x"}, "webhook_url_not_public"),
        ({"url": "not a url"}, "webhook_url_not_https"),
        ({"url": "https://h.example.com", "event_types": []}, "invalid_event_types"),
        ({"url": "https://h.example.com", "event_types": ["x.y"]}, "unknown_event_type"),
        ({"url": "https://h.example.com", "description": "d" * 501}, "invalid_description"),
        ({"url": "https://h.example.com", "secret": "mine"}, "invalid_request"),
        ({"event_types": ["*"]}, "invalid_request"),
    ],
    ids=["http", "private", "garbage", "no-types", "unknown-type", "long", "extra", "no-url"],
)
async def test_bad_endpoints_are_refused_with_stable_codes(
    api: Api, body: dict[str, Any], code: str
) -> None:
    await problem(api, "POST", PATH, body, 422, code)


async def test_bad_requests_on_an_endpoint(api: Api) -> None:
    created = await api.ok("POST", PATH, {"url": "https://hooks.example.com/a"})
    one = f"{PATH}/{created['id']}"
    await problem(api, "GET", f"{PATH}/we_nope", None, 404, "webhook_endpoint_not_found")
    await problem(
        api,
        "GET",
        f"{PATH}/we_01JD3K6ZQ8N0V5X2T9E4M7B1CA",
        None,
        404,
        "webhook_endpoint_not_found",
    )
    await problem(api, "PATCH", one, {"status": "paused"}, 422, "invalid_status")
    await problem(
        api, "POST", f"{one}/rotate_secret", {"overlap_seconds": -1}, 422, "invalid_overlap"
    )
    await problem(
        api, "POST", f"{one}/rotate_secret", {"overlap_seconds": 10**9}, 422, "invalid_overlap"
    )
    await problem(
        api, "POST", f"{one}/rotate_secret", {"overlap_seconds": 2**62}, 422, "invalid_overlap"
    )
    await problem(api, "PATCH", one, {"url": "http://h.example.com"}, 422, "webhook_url_not_https")
    await problem(api, "PATCH", one, {"event_types": ["nope"]}, 422, "unknown_event_type")
    await problem(api, "POST", f"{one}/replay", {}, 422, "invalid_replay")
    await problem(api, "POST", f"{one}/replay", {"since": "yesterday"}, 422, "invalid_timestamp")
    await problem(
        api,
        "POST",
        f"{one}/replay",
        {"event": "evt_01JD3K6ZQ8N0V5X2T9E4M7B1CA"},
        404,
        "event_not_found",
    )
    await problem(api, "GET", f"{one}/deliveries?status=lost", None, 422, "invalid_status")
    await api.client.patch(
        one, json={"status": "disabled"}, headers={"Authorization": "Bearer test-key"}
    )
    await problem(
        api,
        "POST",
        f"{one}/replay",
        {"since": "2025-01-01T00:00:00Z"},
        409,
        "webhook_endpoint_disabled",
    )
    deleted = await api.client.delete(one, headers={"Authorization": "Bearer test-key"})
    assert deleted.json() == {"id": created["id"], "object": "webhook_endpoint", "deleted": True}
    await problem(api, "GET", one, None, 404, "webhook_endpoint_not_found")


async def test_the_walkthrough_arrives_signed_then_replays(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENURE_WEBHOOKS_ALLOW_PRIVATE", "true")
    async with Receiver() as receiver:
        endpoint = await api.ok("POST", PATH, {"url": receiver.url})
        clock = await api.clock()
        customer = await api.customer(clock)
        sub = await api.subscribe(customer)
        await api.advance(clock, "2026-01-31T10:00:00Z")
        await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True})
        await api.advance(clock, "2026-03-01T10:00:00Z")
        await relay_until_idle(database_url)
        published = await api.events()
        # Every event once; ordering is promised per subscription (customer-level events such
        # as payment_method.attached travel in their own lane).
        assert sorted(r.webhook_id for r in receiver.requests) == sorted(e["id"] for e in published)
        by_id = {r.webhook_id: r for r in receiver.requests}
        in_lane = [r.webhook_id for r in receiver.requests if r.json.get("subscription")]
        assert in_lane == [e["id"] for e in published if e["subscription"]]
        for event in published:
            request = by_id[event["id"]]
            message = Webhook(endpoint["secret"]).verify(request.body, request.headers)
            assert message["data"] == event["data"] and message["type"] == event["type"]
            assert message["sequence"] == event["sequence"]
        assert receiver.requests[0].json["external_id"].startswith("user-")

        listing = await api.ok("GET", f"{PATH}/{endpoint['id']}/deliveries", limit=100)
        assert len(listing["data"]) == len(published)
        first = listing["data"][0]
        assert (first["status"], first["attempts"], first["response_code"]) == (
            "delivered",
            1,
            200,
        )
        assert first["next_attempt_at"] is None

        one = published[3]["id"]
        replay = await api.ok("POST", f"{PATH}/{endpoint['id']}/replay", {"event": one})
        assert replay["replayed"] == 1
        everything = await api.ok(
            "POST", f"{PATH}/{endpoint['id']}/replay", {"since": "2025-01-01T00:00:00Z"}
        )
        assert everything == {
            "object": "replay",
            "endpoint": endpoint["id"],
            "replayed": len(published),
            "has_more": False,
        }
        await relay_until_idle(database_url)
    again = receiver.requests[len(published) :]
    # Same ids (consumers dedupe on webhook-id), in order within each subscription.
    assert sorted(r.webhook_id for r in again) == sorted(e["id"] for e in published)
    assert [r.webhook_id for r in again if r.json.get("subscription")] == [
        e["id"] for e in published if e["subscription"]
    ]
    redelivered = await api.ok("GET", f"{PATH}/{endpoint['id']}/deliveries", status="delivered")
    assert redelivered["data"][0]["attempts"] == 1
