"""Issue 10: no card number is accepted, stored or echoed in any free-text field.

Card numbers used to be refused in payment-method fields only; ``external_id``, ``email``,
test clock names, grant and refund reasons, promo codes, metadata and the stored
Idempotency-Key took them. Each is now refused with 422 ``card_number_not_accepted`` and
nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tenure.api.limits import has_card_number
from tenure.db.engine import Database
from tests.http.test_bad_input import assert_problem
from tests.support.api import AUTH, Api

# Luhn-valid test numbers of several networks and lengths, grouped in the usual ways.
CARDS = [
    "4242424242424242",
    "4242 4242 4242 4242",
    "4242-4242-4242-4242",
    "378282246310005",  # 15 digits (Amex)
    "6011 1111 1111 1117",
    "4222222222222",  # 13 digits
    "6200000000000000000",  # 19 digits
]


@pytest.mark.parametrize("card", CARDS)
def test_the_detector_finds_grouped_and_plain_numbers(card: str) -> None:
    assert has_card_number(f"my card is {card}, thanks")


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # not Luhn-valid
        "424242424242",  # 12 digits
        "42424242424242424242",  # 20 digits
        "8123456789012346",  # Adyen's storedPaymentMethodId shape
        "2025-01-31T10:00:00Z",
        "+46 70 123 45 67",
        "cus_01M8SMNXSFDBMJRWG8FKZ4HHBC",
    ],
)
def test_the_detector_leaves_other_numbers(text: str) -> None:
    assert not has_card_number(text)


async def _world(api: Api) -> dict[str, str]:
    clock = await api.clock()
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    return {"customer": customer, "invoice": sub["latest_invoice"], "sub": sub["id"]}


def _requests(w: dict[str, str], card: str) -> list[tuple[str, dict[str, Any]]]:
    c = w["customer"]
    return [
        ("/v1/customers", {"external_id": card, "email": "a@b.se", "market": "SE"}),
        ("/v1/customers", {"external_id": "e", "email": f"{card}@b.se", "market": "SE"}),
        (
            "/v1/customers",
            {"external_id": "m", "email": "a@b.se", "market": "SE", "metadata": {"n": card}},
        ),
        ("/v1/test_clocks", {"frozen_time": "2025-01-01T00:00:00Z", "name": f"clock {card}"}),
        (f"/v1/customers/{c}/grants", {"product": "premium", "reason": card, "days": 3}),
        (f"/v1/invoices/{w['invoice']}/refund", {"reason": f"card {card}"}),
        ("/v1/promo_codes", {"code": card.replace(" ", ""), "percent_off": "10"}),
        (f"/v1/subscriptions/{w['sub']}/metadata", {"metadata": {"note": card}}),
    ]


@pytest.mark.parametrize("card", ["4242 4242 4242 4242", "378282246310005"])
async def test_every_free_text_field_refuses_card_numbers(api: Api, card: str) -> None:
    world = await _world(api)
    for path, body in _requests(world, card):
        response = await api.post(path, body)
        assert_problem(response, 422, "card_number_not_accepted")
        assert card not in response.text
    keyed = await api.client.post(
        "/v1/test_clocks",
        json={"frozen_time": "2025-01-01T00:00:00Z"},
        headers={**AUTH, "Idempotency-Key": f"key-{card}"},
    )
    assert_problem(keyed, 422, "card_number_not_accepted")
    searched = await api.client.get("/v1/customers", params={"external_id": card}, headers=AUTH)
    assert_problem(searched, 422, "card_number_not_accepted")


async def test_nothing_with_a_card_number_was_stored(api: Api, database_url: str) -> None:
    world = await _world(api)
    card = "4242424242424242"
    for path, body in _requests(world, card):
        await api.post(path, body)
    database = Database(database_url)  # the app's pool lives on the test client's loop
    async with database.read() as session:
        for table in (
            "customers",
            "test_clocks",
            "entitlement_grants",
            "outbox_events",
            "promo_codes",
            "credit_notes",
        ):
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            assert not any(card in str(row) for row in rows), table
        keys = (await session.execute(text("SELECT key FROM idempotency_records"))).all()
        assert not any(card in str(row) for row in keys)
    await database.dispose()
