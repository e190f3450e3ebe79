"""Bad input never reaches a 500: every refusal is a 4xx problem+json with a stable code.

Each body carries ``type``, ``title``, ``status``, ``detail`` (a sentence that says what to
fix) and ``code`` (what a client branches on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.catalog.loader import default_catalog_path
from tenure.kernel.ids import new_id
from tenure.settings import Settings
from tests.support.api import API_KEY, AUTH, Api

JSON = {**AUTH, "content-type": "application/json"}
SUB = "premium_individual_monthly"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """A problem+json refusal: the right status, every member present, a usable detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status
    assert body["type"] == f"https://tenure.dev/problems/{body['code']}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and len(body["detail"]) >= 15, body
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
async def world(api: Api) -> dict[str, str]:
    """A test clock, a customer on it, a paid subscription and its (paid) first invoice."""
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock, external_id="taken")
    sub = await api.subscribe(customer)
    return {
        "clock": clock,
        "customer": customer,
        "sub": sub["id"],
        "invoice": sub["latest_invoice"],
    }


def post_paths(world: dict[str, str]) -> list[str]:
    return [
        "/v1/test_clocks",
        f"/v1/test_clocks/{world['clock']}/advance",
        "/v1/customers",
        "/v1/subscriptions",
        f"/v1/subscriptions/{world['sub']}/cancel",
        f"/v1/subscriptions/{world['sub']}/reactivate",
        f"/v1/invoices/{world['invoice']}/pay",
    ]


# --- The body: not JSON, wrong shape, wrong types, missing and unknown fields ---------------


@pytest.mark.parametrize("raw", [b'{"oops', b"{'single': 'quotes'}", b"not json at all"])
async def test_malformed_json_is_refused_with_a_stable_code(
    api: Api, world: dict[str, str], raw: bytes
) -> None:
    for path in post_paths(world):
        response = await api.client.post(path, content=raw, headers=JSON)
        assert 400 <= response.status_code < 500, (path, response.text)
        body = assert_problem(response, response.status_code)
        # A generic "http_error" with the decoder's message is neither stable nor actionable.
        assert body["code"] in ("invalid_request", "invalid_json"), (path, body)
        assert "json" in body["detail"].lower(), (path, body)


async def test_an_empty_body_where_one_is_required_says_so(api: Api) -> None:
    for path in ("/v1/test_clocks", "/v1/customers", "/v1/subscriptions"):
        response = await api.client.post(path, content=b"", headers=JSON)
        body = assert_problem(response, 422, "invalid_request")
        assert "body" in body["detail"].lower(), (path, body)


async def test_a_json_array_is_not_an_object(api: Api, world: dict[str, str]) -> None:
    for path in post_paths(world):
        body = assert_problem(await api.post(path, [1, 2]), 422, "invalid_request")
        assert "object" in body["detail"], (path, body)


async def test_unknown_fields_are_refused_everywhere(api: Api, world: dict[str, str]) -> None:
    for path in post_paths(world):
        body = assert_problem(await api.post(path, {"bogus": 1}), 422, "invalid_request")
        assert "bogus" in body["detail"], (path, body)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/customers", {"external_id": "u", "email": "a@b.co", "market": 5}, "market"),
        ("/v1/customers", {"external_id": 7, "email": "a@b.co", "market": "SE"}, "external_id"),
        ("/v1/customers", {"external_id": "u", "email": ["a@b.co"], "market": "SE"}, "email"),
        ("/v1/test_clocks", {"frozen_time": 1738317600}, "frozen_time"),
        ("/v1/test_clocks", {"frozen_time": "2025-01-31T10:00:00Z", "name": 3}, "name"),
        (
            "/v1/subscriptions",
            {"customer": "CUS", "plan": SUB, "payment_method": "pm_card_visa", "trial": "yes"},
            "trial",
        ),
        ("/v1/subscriptions", {"customer": "CUS", "plan": 1, "payment_method": "x"}, "plan"),
        ("/v1/subscriptions/SUB/cancel", {"at_period_end": "no"}, "at_period_end"),
        ("/v1/invoices/INV/pay", {"payment_method": 7}, "payment_method"),
    ],
)
async def test_wrong_json_types_name_the_field(
    api: Api, world: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    path = path.replace("SUB", world["sub"]).replace("INV", world["invoice"])
    body = {k: world["customer"] if v == "CUS" else v for k, v in body.items()}
    problem = assert_problem(await api.post(path, body), 422, "invalid_request")
    assert field in problem["detail"]


@pytest.mark.parametrize(
    ("path", "body", "missing"),
    [
        ("/v1/test_clocks", {}, "frozen_time"),
        ("/v1/test_clocks/CLOCK/advance", {}, "frozen_time"),
        ("/v1/customers", {"email": "a@b.co", "market": "SE"}, "external_id"),
        ("/v1/customers", {"external_id": "u", "market": "SE"}, "email"),
        ("/v1/customers", {"external_id": "u", "email": "a@b.co"}, "market"),
        ("/v1/subscriptions", {"plan": SUB, "payment_method": "pm_card_visa"}, "customer"),
        ("/v1/subscriptions", {"customer": "CUS", "payment_method": "pm_card_visa"}, "plan"),
        ("/v1/subscriptions", {"customer": "CUS", "plan": SUB}, "payment_method"),
    ],
)
async def test_missing_required_fields_are_named(
    api: Api, world: dict[str, str], path: str, body: dict[str, Any], missing: str
) -> None:
    path = path.replace("CLOCK", world["clock"])
    body = {k: world["customer"] if v == "CUS" else v for k, v in body.items()}
    problem = assert_problem(await api.post(path, body), 422, "invalid_request")
    assert missing in problem["detail"]


# --- Values the domain refuses --------------------------------------------------------------


async def test_customer_values(api: Api, world: dict[str, str]) -> None:
    base = {"external_id": "fresh", "email": "a@b.co", "market": "SE"}
    body = assert_problem(await api.post("/v1/customers", {**base, "market": "XX"}), 422)
    assert body["code"] == "unknown_market"
    assert "XX" in body["detail"]
    assert all(code in body["detail"] for code in ("SE", "GB", "US", "JP"))  # the known ones

    body = assert_problem(await api.post("/v1/customers", {**base, "email": "nope"}), 422)
    assert body["code"] == "invalid_email"
    assert "nope" in body["detail"]
    assert_problem(await api.post("/v1/customers", {**base, "external_id": "  "}), 422)

    body = assert_problem(await api.post("/v1/customers", {**base, "external_id": "taken"}), 409)
    assert body["code"] == "customer_exists"
    assert body["customer"] == world["customer"]
    customers = await api.ok("GET", "/v1/customers", external_id="taken")
    assert [c["id"] for c in customers["data"]] == [world["customer"]]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"plan": "premium_nonexistent_monthly"}, "unknown_plan"),
        ({"plan": "free"}, "plan_not_purchasable"),  # the free tier is never sold
        ({"payment_method": "pm_card_bogus"}, "unknown_payment_method"),
        ({"plan": "premium_individual_annual", "trial": True}, "trial_not_offered"),
    ],
)
async def test_subscription_values(
    api: Api, world: dict[str, str], overrides: dict[str, Any], code: str
) -> None:
    customer = await api.customer()
    body = {"customer": customer, "plan": SUB, "payment_method": "pm_card_visa", **overrides}
    problem = assert_problem(await api.post("/v1/subscriptions", body), 422, code)
    for value in overrides.values():
        if isinstance(value, str):
            assert value in problem["detail"]
    listed = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert listed["data"] == []  # nothing was created


async def test_a_second_live_subscription_is_a_conflict(api: Api, world: dict[str, str]) -> None:
    body = {"customer": world["customer"], "plan": SUB, "payment_method": "pm_card_visa"}
    problem = assert_problem(await api.post("/v1/subscriptions", body), 409)
    assert problem["code"] == "subscription_exists"


async def test_a_plan_not_sold_in_the_market(database_url: str, tmp_path: Path) -> None:
    catalog = default_catalog_path().read_text(encoding="utf-8")
    assert catalog.count('JP = "5800"\n') == 1  # premium_student_annual's JP price
    path = tmp_path / "catalog.toml"
    path.write_text(catalog.replace('JP = "5800"\n', ""), encoding="utf-8")
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        catalog_path=str(path),
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        api = Api(client)
        plans = await api.ok("GET", "/v1/plans", market="JP")
        assert "premium_student_annual" not in {plan["id"] for plan in plans["data"]}
        customer = await api.customer(market="JP")
        body = {
            "customer": customer,
            "plan": "premium_student_annual",
            "payment_method": "pm_card_visa",
        }
        problem = assert_problem(await api.post("/v1/subscriptions", body), 422)
        assert problem["code"] == "plan_unavailable_in_market"
        assert "JP" in problem["detail"]


async def test_paying_a_paid_invoice_is_a_conflict(api: Api, world: dict[str, str]) -> None:
    for body in (None, {}, {"payment_method": "pm_card_visa"}):
        response = await api.post(f"/v1/invoices/{world['invoice']}/pay", body)
        problem = assert_problem(response, 409, "invoice_not_open")
        assert "paid" in problem["detail"]
    invoices = await api.invoices(world["customer"])
    assert [(i["status"], i["amount_paid"]) for i in invoices] == [("paid", 12900)]


async def test_unknown_payment_method_when_paying(api: Api, world: dict[str, str]) -> None:
    response = await api.post(f"/v1/invoices/{world['invoice']}/pay", {"payment_method": "pm_x"})
    assert_problem(response, 422, "unknown_payment_method")


# --- Ids in paths and bodies ---------------------------------------------------------------


ID_ROUTES = [
    ("GET", "/v1/test_clocks/{}", "clock", "test_clock_not_found"),
    ("POST", "/v1/test_clocks/{}/advance", "clock", "test_clock_not_found"),
    ("GET", "/v1/customers/{}", "cus", "customer_not_found"),
    ("GET", "/v1/customers/{}/entitlements", "cus", "customer_not_found"),
    ("GET", "/v1/subscriptions/{}", "sub", "subscription_not_found"),
    ("GET", "/v1/subscriptions/{}/history", "sub", "subscription_not_found"),
    ("POST", "/v1/subscriptions/{}/cancel", "sub", "subscription_not_found"),
    ("POST", "/v1/subscriptions/{}/reactivate", "sub", "subscription_not_found"),
    ("GET", "/v1/invoices/{}", "in", "invoice_not_found"),
    ("POST", "/v1/invoices/{}/pay", "in", "invoice_not_found"),
]
BODIES = {"advance": {"frozen_time": "2026-01-01T00:00:00Z"}}


@pytest.mark.parametrize(("method", "template", "prefix", "code"), ID_ROUTES)
async def test_malformed_and_unknown_ids_are_404(
    api: Api, method: str, template: str, prefix: str, code: str
) -> None:
    body = BODIES.get(template.rsplit("/", 1)[-1], {})
    candidates = {
        "garbage": "not-an-id",
        "wrong prefix": new_id("evt" if prefix != "evt" else "cus"),
        "bad body": f"{prefix}_tooshort",
        "lowercase": new_id(prefix).lower(),
        "well formed, absent": new_id(prefix),
    }
    for label, value in candidates.items():
        path = template.format(value)
        response = await (api.get(path) if method == "GET" else api.post(path, body))
        problem = assert_problem(response, 404, code)
        assert value in problem["detail"], (label, problem)


async def test_ids_inside_bodies(api: Api) -> None:
    body = {"plan": SUB, "payment_method": "pm_card_visa"}
    for value in ("nope", new_id("cus")):
        response = await api.post("/v1/subscriptions", {**body, "customer": value})
        assert_problem(response, 404, "customer_not_found")
    for value in ("clock_nope", new_id("clock")):
        customer = {"external_id": "u1", "email": "a@b.co", "market": "SE", "test_clock": value}
        assert_problem(await api.post("/v1/customers", customer), 404, "test_clock_not_found")
    assert (await api.ok("GET", "/v1/customers"))["data"] == []
    response = await api.get("/v1/entitlements/nobody-here")
    assert_problem(response, 404, "customer_not_found")


# --- Timestamps, paging, query parameters --------------------------------------------------


BAD_TIMES = [
    "2025-01-31T10:00:00",  # naive: no offset
    "2025-01-31 10:00:00",
    "2025-01-31",
    "yesterday",
    "",
    "2025-02-30T10:00:00Z",
    "2025-01-31T25:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
]


@pytest.mark.parametrize("value", BAD_TIMES)
async def test_bad_timestamps(api: Api, world: dict[str, str], value: str) -> None:
    for path in ("/v1/test_clocks", f"/v1/test_clocks/{world['clock']}/advance"):
        problem = assert_problem(await api.post(path, {"frozen_time": value}), 422)
        assert problem["code"] == "invalid_timestamp", problem
        assert "frozen_time" in problem["detail"] and "offset" in problem["detail"]
    clock = await api.ok("GET", f"/v1/test_clocks/{world['clock']}")
    assert clock["frozen_time"] == "2025-01-31T10:00:00Z"  # not moved


async def test_a_test_clock_never_moves_backwards(api: Api, world: dict[str, str]) -> None:
    path = f"/v1/test_clocks/{world['clock']}/advance"
    response = await api.post(path, {"frozen_time": "2025-01-01T00:00:00Z"})
    assert_problem(response, 422, "test_clock_backwards")


LISTS = ["/v1/customers", "/v1/subscriptions", "/v1/invoices", "/v1/events"]


@pytest.mark.parametrize("path", LISTS)
async def test_limit_out_of_range(api: Api, path: str) -> None:
    for limit in (0, -1, 101, 10**30):
        problem = assert_problem(await api.get(path, limit=limit), 422, "invalid_limit")
        assert "100" in problem["detail"]
    problem = assert_problem(await api.get(path, limit="ten"), 422, "invalid_request")
    assert "limit" in problem["detail"]
    assert (await api.get(path, limit=100)).status_code == 200


async def test_event_cursor_out_of_range(api: Api) -> None:
    assert_problem(await api.get("/v1/events", after="first"), 422, "invalid_request")
    response = await api.get("/v1/events", after=10**20)  # beyond a 64-bit position
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)


async def test_plans_need_a_known_market(api: Api) -> None:
    problem = assert_problem(await api.get("/v1/plans"), 422, "market_required")
    assert "market=" in problem["detail"]
    problem = assert_problem(await api.get("/v1/plans", market="XX"), 422, "unknown_market")
    assert "SE" in problem["detail"]
    assert (await api.ok("GET", "/v1/plans", market="se"))["market"] == "SE"


# --- Text a database may refuse: too long, NUL bytes -----------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/customers", {"external_id": "x" * 300, "email": "a@b.co", "market": "SE"}),
        ("/v1/customers", {"external_id": "u", "email": "a@" + "b" * 400 + ".co", "market": "SE"}),
        ("/v1/customers", {"external_id": "a\u0000b", "email": "a@b.co", "market": "SE"}),
        ("/v1/test_clocks", {"frozen_time": "2025-01-31T10:00:00Z", "name": "n" * 300}),
    ],
    ids=["long-external-id", "long-email", "nul-external-id", "long-clock-name"],
)
async def test_oversized_or_nul_text_is_a_4xx(api: Api, path: str, body: dict[str, Any]) -> None:
    response = await api.post(path, body)
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/entitlements/a%00b", {}),
        ("/v1/customers", {"external_id": "a\u0000b"}),
        ("/v1/customers", {"starting_after": "a\u0000b"}),
        ("/v1/subscriptions", {"customer": "a\u0000b"}),
        ("/v1/invoices", {"status": "a\u0000b"}),
        ("/v1/events", {"type": "a\u0000b"}),
    ],
)
async def test_nul_bytes_in_lookups_are_not_a_500(
    api: Api, path: str, params: dict[str, str]
) -> None:
    response = await api.get(path, **params)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


# --- Routing ------------------------------------------------------------------------------


async def test_unknown_route_and_wrong_method(api: Api, world: dict[str, str]) -> None:
    for path in ("/v1/nope", "/v2/customers", f"/v1/customers/{world['customer']}/nope"):
        problem = assert_problem(await api.get(path), 404, "route_not_found")
        assert path in problem["detail"]
    for method, path in [
        ("DELETE", "/v1/customers"),
        ("PUT", f"/v1/subscriptions/{world['sub']}"),
        ("GET", f"/v1/subscriptions/{world['sub']}/cancel"),
        ("PATCH", f"/v1/invoices/{world['invoice']}"),
        ("POST", "/v1/events"),
    ]:
        response = await api.client.request(method, path, headers=AUTH)
        problem = assert_problem(response, 405, "method_not_allowed")
        assert method in problem["detail"]
