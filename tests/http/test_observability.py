"""Request ids, the access log, one-line 500s, probes and the scrape endpoint, through the API."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select, text

from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.flows import accounts
from tenure.observability import logs
from tenure.ops.readiness import head_revision
from tests.support.api import API_KEY, AUTH, Api

# A body that passes every check (a card number is refused before any handler runs, issue 10)
# but must still never reach a log line.
SECRET_BODY = {"frozen_time": "2025-01-31T10:00:00Z", "name": "private note 9c41e7"}


def _lines(captured: list[str], event: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in captured]
    return [r for r in records if r.get("event") == event]


async def test_a_request_id_is_taken_or_made_returned_and_bound_to_logs_and_events(
    api: Api, database_url: str
) -> None:
    with logs.captured() as captured:
        given = await api.client.post(
            "/v1/customers",
            json={"external_id": "rid-1", "email": "a@example.com", "market": "SE"},
            headers={**AUTH, "X-Request-Id": "checkout-7f3a"},
        )
        made = await api.client.get("/v1/plans", params={"market": "SE"}, headers=AUTH)
    assert given.status_code == 201
    assert given.headers["x-request-id"] == "checkout-7f3a"
    assert re.fullmatch(r"req_[a-z]{14}_[0-9a-f]+", made.headers["x-request-id"])

    [access] = [
        line for line in _lines(captured, "http.request") if line["request_id"] == "checkout-7f3a"
    ]
    assert access["method"] == "POST"
    assert access["route"] == "/v1/customers"
    assert access["status"] == 201
    assert access["duration_ms"] >= 0
    assert {"timestamp", "level"} <= set(access)

    database = Database(database_url)
    try:
        async with database.read() as session:
            stamped = (
                await session.scalars(
                    select(OutboxEvent.request_id).where(OutboxEvent.type == "customer.created")
                )
            ).all()
    finally:
        await database.dispose()
    assert stamped == ["checkout-7f3a"]


@pytest.mark.parametrize(
    "offered",
    [
        "x" * 200,  # too long
        "has spaces",
        "4242-4242-4242-4242",  # looks like a card number: never stored or echoed
        "4242424242424242",
    ],
)
async def test_unsafe_request_ids_are_replaced(api: Api, offered: str) -> None:
    response = await api.client.get("/v1/plans", headers={**AUTH, "X-Request-Id": offered})
    assert response.headers["x-request-id"].startswith("req_")


async def test_problems_carry_the_request_id(api: Api) -> None:
    refused = await api.client.get("/v1/plans", headers={"X-Request-Id": "abc-123"})
    assert refused.status_code == 401
    assert refused.json()["request_id"] == "abc-123"
    missing = await api.client.get("/v1/customers/cus_nope", headers=AUTH)
    assert missing.json()["request_id"] == missing.headers["x-request-id"]


async def test_an_unexpected_error_is_one_clean_line_and_a_500_with_the_request_id(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(runtime: Any, **kwargs: Any) -> Any:
        # Locals a rich traceback would have printed: the caller's key and body.
        api_key = API_KEY
        body = json.dumps(SECRET_BODY)
        raise RuntimeError(f"boom while handling {len(body) + len(api_key)} bytes")

    monkeypatch.setattr(accounts, "create_test_clock", broken)
    with logs.captured() as captured:
        response = await api.client.post(
            "/v1/test_clocks", json=SECRET_BODY, headers={**AUTH, "X-Request-Id": "oops-1"}
        )
    assert response.status_code == 500
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "internal_error"
    assert problem["request_id"] == "oops-1"

    [failure] = _lines(captured, "request.failed")
    assert failure["exc_type"] == "RuntimeError"
    assert failure["request_id"] == "oops-1"
    assert "test_observability.py" in failure["traceback"]
    assert failure["traceback"].count(">") < 10  # a short traceback
    everything = "\n".join(captured)
    assert API_KEY not in everything
    assert "frozen_time" not in everything and "private note" not in everything
    assert all("\n" not in line for line in captured)


async def test_livez_and_readyz(api: Api) -> None:
    live = await api.client.get("/livez")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert {c["name"]: c["ok"] for c in ready.json()["checks"]} == {
        "database": True,
        "migrations": True,
        "catalog": True,
    }


async def test_readyz_fails_with_the_reason_when_the_schema_is_behind(
    api: Api, database_url: str
) -> None:
    database = Database(database_url)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0006'"))
        response = await api.client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"]
        body = response.json()
        assert body["code"] == "not_ready"
        assert "migrations: database at 0006" in body["detail"]
        # A revision this code does not know is a newer deploy's: still ready.
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        assert (await api.client.get("/readyz")).status_code == 200
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(
                text(f"UPDATE alembic_version SET version_num = '{head_revision()}'")
            )
        await database.dispose()


async def test_metrics_content_type_and_business_gauges(api: Api) -> None:
    clock = await api.clock()
    customer = await api.customer(clock)
    await api.subscribe(customer)
    await api.ok("GET", f"/v1/customers/{customer}/entitlements")
    await api.ok("GET", f"/v1/customers/{customer}/entitlements")

    response = await api.client.get("/metrics")
    assert response.headers.get_list("content-type") == ["text/plain; version=0.0.4; charset=utf-8"]
    body = response.text
    assert re.search(
        r'tenure_subscriptions\{channel="web",market="SE",mode="test",'
        r'product="premium_individual",status="active"\} 1\.0',
        body,
    )
    assert re.search(r'tenure_mrr_minor_units\{currency="SEK",mode="test"\} 12900\.0', body)
    assert 'tenure_entitlement_cache_total{result="hit"}' in body
    assert "tenure_due_work_lag_seconds 0.0" in body
    assert "tenure_gauges_up 1.0" in body
    assert re.search(
        r'tenure_charges_total\{decline_class="none",outcome="succeeded",'
        r'reason="subscription_create"\} [1-9]',
        body,
    )

    openmetrics = await api.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


async def test_the_fast_path_keeps_request_ids_and_counts_hits(api: Api) -> None:
    customer = await api.customer(external_id="fast-rid")
    await api.subscribe(customer)
    await api.client.get("/v1/entitlements/fast-rid", headers=AUTH)  # fills the cache
    with logs.captured() as captured:
        hit = await api.client.get(
            "/v1/entitlements/fast-rid", headers={**AUTH, "X-Request-Id": "fast-1"}
        )
    assert hit.status_code == 200
    assert hit.headers["x-request-id"] == "fast-1"
    [access] = _lines(captured, "http.request")
    assert access["route"] == "/v1/entitlements/{external_id}"
    assert access["request_id"] == "fast-1"
