"""Data lifecycle: export everything about a customer, erase their personal data (refused
while a subscription is live; invoices stay), idempotency records expire, and the worker
prunes old idempotency records, delivered webhook rows and consumed inbox rows in batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from tenure.access.models import IdempotencyRecord
from tenure.db.engine import Database
from tenure.events.delivery_models import EventDelivery
from tenure.payments.models import ProviderEvent
from tenure.stores.models import StoreNotification
from tenure.workers import housekeeping
from tenure.workers.housekeeping import Retention, prune
from tests.support.api import AUTH, Api


async def test_export_holds_everything_about_the_customer(api: Api) -> None:
    external = "listener-export-1"
    customer = await api.customer(external_id=external)
    sub = await api.subscribe(customer)
    invoice = (await api.invoices(customer))[0]
    await api.ok(
        "POST", f"/v1/invoices/{invoice['id']}/refund", {"reason": "goodwill", "amount": 100}
    )
    exported = await api.ok("GET", f"/v1/customers/{customer}/export")
    assert exported["object"] == "customer_export"
    assert exported["customer"]["id"] == customer
    assert exported["customer"]["external_id"] == external
    assert exported["erased_at"] is None
    assert [s["id"] for s in exported["subscriptions"]] == [sub["id"]]
    assert exported["subscription_history"]
    (exported_invoice,) = exported["invoices"]
    assert exported_invoice["id"] == invoice["id"] and exported_invoice["lines"]
    assert exported_invoice["credit_notes"][0]["amount"] == 100
    assert len(exported["payment_methods"]) == 1
    assert {"customer.created", "subscription.created"} <= {e["type"] for e in exported["events"]}
    assert [entry["action"] for entry in exported["audit_log"]] == ["refund_invoice"]
    other = await api.customer()
    assert other not in json.dumps(exported)  # nobody else's data
    missing = await api.get("/v1/customers/cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA/export")
    assert missing.status_code == 404


async def test_erase_refuses_a_live_customer_then_keeps_only_financial_records(
    api: Api,
) -> None:
    external = "listener-erase-1"
    customer = await api.customer(external_id=external)
    await api.ok("POST", f"/v1/customers/{customer}", {"metadata": {"crm": "Ada Lovelace"}})
    sub = await api.subscribe(customer)
    refused = await api.post(f"/v1/customers/{customer}/erase")
    assert refused.status_code == 409
    assert refused.json()["code"] == "customer_has_live_subscription"
    assert refused.json()["subscription"] == sub["id"]
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    # A person's key must give a reason.
    admin = await api.ok("POST", "/v1/api_keys", {"name": "dpo", "role": "admin", "reason": "x"})
    person = {"Authorization": f"Bearer {admin['secret']}"}
    no_reason = await api.client.post(f"/v1/customers/{customer}/erase", json={}, headers=person)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    erased = await api.client.post(
        f"/v1/customers/{customer}/erase", json={"reason": "GDPR art. 17 request"}, headers=person
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True
    again = await api.post(f"/v1/customers/{customer}/erase")  # idempotent
    assert again.status_code == 200 and again.json()["erased_at"] == erased.json()["erased_at"]

    record = await api.ok("GET", f"/v1/customers/{customer}")
    assert record["email"] != "listener@example.com" and record["external_id"] != external
    assert record["metadata"] == {}
    # Financial records stay.
    invoices = await api.invoices(customer)
    assert invoices and invoices[0]["total"] > 0
    assert (await api.subscription(sub["id"]))["status"] == "canceled"
    # No earlier event still carries the email, external id or metadata.
    events = await api.events(customer=customer)
    text = json.dumps(events)
    assert "listener@example.com" not in text and external not in text
    assert "Ada Lovelace" not in text
    assert events[-1]["type"] == "customer.erased"
    # The old external id reaches nothing; the audit log has the erasure with its reason.
    gone = await api.client.get(f"/v1/entitlements/{external}", headers=AUTH)
    assert gone.status_code == 404
    trail = await api.ok("GET", "/v1/audit_log", action="erase_customer", customer=customer)
    assert trail["data"][0]["reason"] == "GDPR art. 17 request"
    # The export says so, and holds no personal data any more.
    exported = await api.ok("GET", f"/v1/customers/{customer}/export")
    assert exported["erased_at"] == erased.json()["erased_at"]
    assert "listener@example.com" not in json.dumps(exported)


async def test_idempotency_records_expire(api: Api, database: Database) -> None:
    headers = {"Idempotency-Key": "expiring-key"}
    first = await api.post(
        "/v1/test_clocks", {"frozen_time": "2025-01-31T10:00:00Z"}, headers=headers
    )
    assert first.status_code == 201
    other_body = {"frozen_time": "2025-02-28T10:00:00Z"}
    reused = await api.post("/v1/test_clocks", other_body, headers=headers)
    assert reused.status_code == 422  # within its lifetime the key is bound to the first body
    async with database.transaction() as session:
        await session.execute(
            update(IdempotencyRecord).values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    fresh = await api.post("/v1/test_clocks", other_body, headers=headers)
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in fresh.headers


async def test_the_worker_prunes_in_batches(database: Database, monkeypatch: object) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    async with database.transaction() as session:
        for n in range(25):
            at = old if n < 20 else recent
            session.add(
                IdempotencyRecord(
                    api_key_id="key_1",
                    key=f"k{n}",
                    method="POST",
                    path="/v1/x",
                    request_hash="0" * 64,
                    created_at=at,
                    completed_at=at,
                )
            )
            for status in ("delivered", "dead"):
                session.add(
                    EventDelivery(
                        kind="webhook",
                        destination="we_1" if status == "delivered" else "we_2",
                        event_pk=n,
                        event_id=f"evt_{n}",
                        position=n,
                        ordering_key="o",
                        status=status,
                        attempts=1,
                        next_attempt_at=at,
                        delivered_at=at,
                        created_at=at,
                    )
                )
            session.add(
                ProviderEvent(
                    provider="stripe",
                    event_id=f"evt_{n}",
                    type="payment_intent.succeeded",
                    kind="payment_outcome",
                    object_id=None,
                    occurred_at=at,
                    received_at=at,
                    status="processed" if n % 2 else "pending",
                    processed_at=at,
                    note=None,
                    payload={},
                )
            )
            session.add(
                StoreNotification(
                    channel="app_store",
                    notification_id=f"n{n}",
                    type="DID_RENEW",
                    subtype=None,
                    environment="Sandbox",
                    store_key=None,
                    signed_at=at,
                    received_at=at,
                    status="processed",
                    note=None,
                    processed_at=at,
                    payload={},
                )
            )
    monkeypatch.setattr(housekeeping, "BATCH", 7)  # type: ignore[attr-defined]
    removed = await prune(database, Retention(), now=now)
    assert removed == {
        "idempotency_records": 20,
        "event_deliveries": 20,  # delivered and old; dead ones are kept for operators
        "provider_events": 10,  # processed and old; pending ones are never pruned
        "store_notifications": 20,
    }
    async with database.read() as session:
        left = {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (IdempotencyRecord, EventDelivery, ProviderEvent, StoreNotification)
        }
    assert left == {
        "idempotency_records": 5,
        "event_deliveries": 30,
        "provider_events": 15,
        "store_notifications": 5,
    }
    assert await prune(database, Retention(), now=now) == dict.fromkeys(removed, 0)
