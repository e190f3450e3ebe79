"""GET /v1/event_types publishes the catalog; events on the wire match it."""

from __future__ import annotations

import msgspec

from tenure.events import catalog
from tests.support.api import Api


async def test_every_event_type_is_listed_with_schema_and_example(api: Api) -> None:
    body = await api.ok("GET", "/v1/event_types")
    listed = {item["type"]: item for item in body["data"]}
    assert set(listed) == set(catalog.BY_TYPE)
    renewed = listed["subscription.renewed"]
    assert renewed["schema_version"] == 1
    assert renewed["schema"]["properties"]["type"] == {"const": "subscription.renewed"}
    assert "data" in renewed["schema"]["required"]
    assert renewed["example"]["type"] == "subscription.renewed"
    assert renewed["example"]["data"]["price"] == {"amount": 12900, "currency": "SEK"}


async def test_one_event_type_and_an_unknown_one(api: Api) -> None:
    one = await api.ok("GET", "/v1/event_types/invoice.payment_failed")
    assert "decline_code" in one["schema"]["$defs"]["InvoicePaymentFailed"]["properties"]
    missing = await api.get("/v1/event_types/invoice.teleported")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "event_type_not_found"


async def test_recorded_events_match_their_published_types(api: Api) -> None:
    clock = await api.clock()
    customer = await api.customer(clock)
    await api.subscribe(customer)
    await api.advance(clock, "2025-04-01T10:00:00Z")
    events = await api.events(customer=customer)
    assert {e["type"] for e in events} >= {"customer.created", "subscription.renewed"}
    for event in events:
        spec = catalog.BY_TYPE[event["type"]]
        assert event["schema_version"] == spec.version
        msgspec.convert(event["data"], spec.payload)
