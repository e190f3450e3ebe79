"""Input hygiene on every route: JSON bodies say they are JSON (415), unknown query parameters
and bad filter values are 400 with a code (never a silent empty list), 405 carries Allow."""

from __future__ import annotations

import re

import pytest

from tests.support.api import AUTH, Api


async def test_a_body_that_is_not_json_is_415(api: Api) -> None:
    body = b'{"external_id": "u-415", "email": "a@example.com", "market": "SE"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
        response = await api.client.post("/v1/customers", content=body, headers=headers)
        assert response.status_code == 415, (content_type, response.text)
        assert response.json()["code"] == "unsupported_media_type"
    ok = await api.client.post(
        "/v1/customers",
        content=body,
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 201
    # No body at all needs no content type (cancel defaults to at period end).
    sub = await api.subscribe(ok.json()["id"])
    bare = await api.client.post(f"/v1/subscriptions/{sub['id']}/cancel", headers=AUTH)
    assert bare.status_code == 200, bare.text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/customers?custmer=cus_1", "custmer"),
        ("/v1/invoices?customer=cus_1&sort=desc", "sort"),
        ("/v1/plans?market=SE&currency=SEK", "currency"),
        ("/v1/events?limit=5&offset=10", "offset"),
    ],
)
async def test_unknown_query_parameters_are_400(api: Api, path: str, field: str) -> None:
    response = await api.client.get(path, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "unknown_parameter"
    assert response.json()["field"] == field


async def test_every_route_refuses_an_unknown_query_parameter(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    checked = 0
    for path, item in document["paths"].items():
        if "get" not in item:
            continue
        url = re.sub(r"\{(\w+)\}", "x_01JD3K6ZQ8N0V5X2T9E4M7B1CA", path)
        response = await api.client.get(url, params={"zz_unknown": "1"}, headers=AUTH)
        if path.startswith("/v1/me"):
            assert response.status_code == 403  # an API key; the guard answers first
            continue
        assert response.status_code == 400, (path, response.text)
        assert response.json()["code"] == "unknown_parameter"
        assert "400" in item["get"]["responses"]
        checked += 1
    assert checked > 20


@pytest.mark.parametrize(
    "path",
    [
        "/v1/subscriptions?status=actve",
        "/v1/invoices?status=unpaid-ish",
        "/v1/events?type=customer.creatd",
        "/v1/audit_log?action=refund",
        "/v1/stores/notifications?status=done",
        "/v1/api_keys?status=lost",
    ],
)
async def test_bad_filter_values_are_400_not_an_empty_list(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_filter"


async def test_405_names_the_allowed_methods(api: Api) -> None:
    response = await api.client.put("/v1/customers", json={}, headers=AUTH)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed and "PUT" not in allowed
    one = await api.client.patch(
        "/v1/subscriptions/sub_01JD3K6ZQ8N0V5X2T9E4M7B1CA", json={}, headers=AUTH
    )
    assert one.status_code == 405 and "GET" in one.headers["allow"]
