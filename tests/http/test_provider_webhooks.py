"""Provider webhooks in: verified, stored once in the inbox, processed in provider order.

Events are built by the fake servers from the providers' own shapes (Stripe's example Event
object; Adyen's NotificationRequestItem, validated against Webhooks-v1) and signed as the
providers sign them.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from tenure.api.app import create_app
from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.payments import methods
from tenure.payments.models import ProviderEvent
from tenure.payments.ports import StoredCard
from tenure.payments.signatures import stripe_header
from tenure.settings import Settings
from tests.support.api import API_KEY, Api
from tests.support.fakes import HMAC_KEY, new_adyen_fake, new_stripe_fake

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
STRIPE_PATH = "/v1/providers/stripe/webhooks"
ADYEN_PATH = "/v1/providers/adyen/notifications"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False,
        stripe_webhook_secrets=(SECRET,), adyen_hmac_keys=(HMAC_KEY,),
    )  # fmt: skip
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def _post_stripe(
    client: AsyncTestClient[Any], event: dict[str, Any], *, secrets: list[str] | None = None,
    at: int | None = None,
) -> httpx.Response:  # fmt: skip
    body = json.dumps(event).encode()
    header = stripe_header(body, secrets or [SECRET], at or int(time.time()))
    return await client.post(
        STRIPE_PATH, content=body,
        headers={"Stripe-Signature": header, "content-type": "application/json"},
    )  # fmt: skip


async def _inbox(database_url: str) -> list[tuple[str, str, str, str | None]]:
    database = Database(database_url)
    try:
        async with database.read() as session:
            rows = await session.execute(
                select(
                    ProviderEvent.event_id, ProviderEvent.kind, ProviderEvent.status,
                    ProviderEvent.object_id,
                ).order_by(ProviderEvent.pk)
            )  # fmt: skip
            return [tuple(row) for row in rows.all()]  # type: ignore[misc]
    finally:
        await database.dispose()


async def test_a_signed_stripe_event_is_stored_once_without_an_api_key(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    event = new_stripe_fake().event("payment_intent.succeeded", {"id": "pi_123"})
    first = await _post_stripe(client, event)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "event": event["id"], "duplicate": False}
    again = await _post_stripe(client, event)  # Stripe retries with a fresh signature
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # Processed at once: a PaymentIntent without Tenure's key is no payment Tenure made.
    assert await _inbox(database_url) == [(event["id"], "payment_outcome", "ignored", "pi_123")]


async def test_stale_wrong_or_missing_signatures_are_refused_and_store_nothing(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    event = new_stripe_fake().event("charge.dispute.created", {"id": "dp_1"})
    stale = await _post_stripe(client, event, at=int(time.time()) - 301)
    wrong = await _post_stripe(client, event, secrets=["whsec_attacker"])
    missing = await client.post(STRIPE_PATH, content=json.dumps(event).encode())
    for response, code in ((stale, "stale_signature"), (wrong, "bad_signature"),
                           (missing, "signature_missing")):  # fmt: skip
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == code
    assert await _inbox(database_url) == []


async def test_a_rolled_secret_still_verifies(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    event = new_stripe_fake().event("charge.dispute.closed", {"id": "dp_2", "status": "lost"})
    response = await _post_stripe(client, event, secrets=[OLD_SECRET, SECRET])
    assert response.status_code == 200
    # Verified and stored; dp_2 is on no payment Tenure made, so it is ignored.
    assert await _inbox(database_url) == [(event["id"], "dispute", "ignored", "dp_2")]


async def test_an_unknown_event_type_is_stored_and_ignored(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    event = new_stripe_fake().event("customer.tax_id.created", {"id": "txi_1"})
    assert (await _post_stripe(client, event)).status_code == 200
    assert await _inbox(database_url) == [(event["id"], "unknown", "ignored", "txi_1")]


async def _stripe_method(database_url: str, customer: str) -> str:
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            method = await methods.attach(
                session, customer_id=customer, token="pm_upd_1", at=_now(),
                stored=StoredCard("stripe", "pm_upd_1", "cus_stripe_1", "visa", "4242", 1, 2026),
            )  # fmt: skip
            return method.id
    finally:
        await database.dispose()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_card_updates_apply_in_provider_order_and_emit_payment_method_updated(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    api = Api(client)
    customer = await api.customer()
    method_id = await _stripe_method(database_url, customer)
    fake = new_stripe_fake()
    t = int(time.time())
    newer = fake.event(
        "payment_method.automatically_updated",
        {"id": "pm_upd_1", "card": {**fake.card_for("pm_upd_1"), "last4": "1881",
                                     "exp_month": 9, "exp_year": 2031}},
        created=t,
    )  # fmt: skip
    older = fake.event(
        "payment_method.automatically_updated",
        {"id": "pm_upd_1", "card": {**fake.card_for("pm_upd_1"), "last4": "0005",
                                     "exp_month": 2, "exp_year": 2028}},
        created=t - 60,
    )  # fmt: skip
    assert (await _post_stripe(client, newer)).status_code == 200
    assert (await _post_stripe(client, older)).status_code == 200  # arrives late
    listed = await api.ok("GET", f"/v1/customers/{customer}/payment_methods")
    card = next(m["card"] for m in listed["data"] if m["id"] == method_id)
    assert card == {"brand": "visa", "last4": "1881", "exp_month": 9, "exp_year": 2031}
    statuses = {event_id: status for event_id, _, status, _ in await _inbox(database_url)}
    assert statuses == {newer["id"]: "processed", older["id"]: "ignored"}
    database = Database(database_url)
    async with database.read() as session:
        updated = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.type == "payment_method.updated"
            )
        )  # fmt: skip
    await database.dispose()
    assert updated == 1


async def test_adyen_notifications_are_verified_per_item_and_answered_accepted(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    fake = new_adyen_fake()
    item = fake.item(
        "NOTIFICATION_OF_CHARGEBACK", originalReference="PSP0000000000001",
        merchantReference="in_1:attempt:1", amount={"value": 1999, "currency": "EUR"},
        reason="Fraudulent transaction",
    )  # fmt: skip
    envelope = fake.envelope(item)
    assert fake.violations == []
    response = await client.post(ADYEN_PATH, json=envelope)
    assert (response.status_code, response.text) == (200, "[accepted]")
    assert (await client.post(ADYEN_PATH, json=envelope)).text == "[accepted]"  # duplicate
    event_id = f"{item['pspReference']}:NOTIFICATION_OF_CHARGEBACK:true"
    # Stored once; on no payment Tenure made, so processed as ignored.
    assert await _inbox(database_url) == [(event_id, "dispute", "ignored", "PSP0000000000001")]

    tampered = json.loads(json.dumps(envelope))
    tampered["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] = 1
    refused = await client.post(ADYEN_PATH, json=tampered)
    assert refused.status_code == 400 and refused.json()["code"] == "bad_signature"
    malformed = await client.post(ADYEN_PATH, json={"live": "false"})
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_event"
    assert len(await _inbox(database_url)) == 1


async def test_an_adyen_authorisation_is_keyed_by_tenures_reference(
    client: AsyncTestClient[Any], database_url: str
) -> None:
    fake = new_adyen_fake()
    item = fake.item("AUTHORISATION", merchantReference="in_9:attempt:2",
                     amount={"value": 1999, "currency": "EUR"})  # fmt: skip
    assert (await client.post(ADYEN_PATH, json=fake.envelope(item))).text == "[accepted]"
    [(_, kind, status, object_id)] = await _inbox(database_url)
    # No attempt has that key here: stored (the adapter's lookup reads it) and ignored.
    assert (kind, status, object_id) == ("payment_outcome", "ignored", "in_9:attempt:2")


async def test_without_configured_secrets_webhooks_answer_503_with_retry_after(
    database_url: str,
) -> None:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await _post_stripe(client, new_stripe_fake().event("charge.refunded", {}))
    assert response.status_code == 503 and response.headers["retry-after"] == "60"
    assert response.json()["code"] == "webhooks_not_configured"
