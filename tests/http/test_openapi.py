"""The OpenAPI document types every answer, and /docs works with no internet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from tenure.api.app import create_app
from tenure.api.problems import PROBLEM_JSON, Problem
from tenure.api.resources.entitlements import Entitlements, entitlements_of
from tenure.settings import Settings
from tests.support.api import AUTH, Api

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # The document needs no database: build it from an app that never starts.
    app = create_app(
        Settings(database_url="sqlite:///unused.db", api_key="k", embedded_worker=False)
    )
    from tenure.api.openapi import document as build

    body: dict[str, Any] = msgspec.json.decode(build(app))
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


# Receivers whose answer a third party's protocol fixes (Adyen expects the text "[accepted]").
PLAIN_TEXT = {"POST /v1/providers/adyen/notifications"}


def test_every_operation_answers_a_typed_body(document: dict[str, Any]) -> None:
    assert len(list(operations(document))) >= 50
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        successes = {code: r for code, r in operation["responses"].items() if code < "300"}
        assert successes, where
        for code, response in successes.items():
            if code in ("204", "304"):
                continue
            if where in PLAIN_TEXT:
                assert response["content"]["text/plain"]["schema"] == {"type": "string"}
                continue
            schema = response["content"]["application/json"]["schema"]
            assert "$ref" in schema, f"{where} {code}: {schema}"
            target = resolve(document, schema)
            assert target.get("type") == "object" and target.get("properties"), where
            assert set(target["required"]) == set(target["properties"]), (
                f"{where}: every response field is always present"
            )
            for name, field in target["properties"].items():
                field = resolve(document, field)
                assert field, f"{where}: {name} is untyped"
                if field.get("type") == "object":
                    assert "properties" in field or "additionalProperties" in field, name


def test_every_operation_documents_its_problems(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        # Provider and store notifications are signed, not bearer-authenticated (api/authz.py).
        public = operation["x-required-scope"] == "public"
        expected_security = [] if public else [{"bearer": []}]
        assert operation.get("security", document["security"]) == expected_security, where
        for status in ("400", "401", "503"):
            content = operation["responses"][status]["content"]
            assert content == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        assert "`unauthorized`" in operation["responses"]["401"]["description"]
        for status, response in operation["responses"].items():
            if status >= "400":
                assert list(response["content"]) == [PROBLEM_JSON], f"{where} {status}"
        if "{" in path:
            assert "404" in operation["responses"], f"{where} takes an id"
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in operation["responses"], where


def test_payments_document_402(document: dict[str, Any]) -> None:
    for method, path in [
        ("post", "/v1/subscriptions/{subscription_id}/change"),
        ("post", "/v1/invoices/{invoice_id}/pay"),
    ]:
        assert "402" in document["paths"][path][method]["responses"], path


def test_every_post_documents_the_idempotency_key(document: dict[str, Any]) -> None:
    posts = [(path, op) for method, path, op in operations(document) if method == "post"]
    assert len(posts) >= 20
    for path, operation in posts:
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert [h["name"] for h in headers] == ["Idempotency-Key"], path
        assert headers[0]["required"] is False
        assert "idempotency_key_in_use" in operation["responses"]["409"]["description"]
        assert "idempotency_key_reused" in operation["responses"]["422"]["description"]
    for method, path, operation in operations(document):
        if method != "post":
            names = [p["name"] for p in operation.get("parameters", [])]
            assert "Idempotency-Key" not in names, path


def test_bearer_security_scheme(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert document["security"] == [{"bearer": []}]
    public = {"/healthz", "/metrics", "/openapi.json", "/docs"}
    assert not public & set(document["paths"]), "public routes carry no security requirement"


async def test_the_document_is_served_without_a_key(api: Api) -> None:
    served = await api.client.get("/openapi.json")
    assert served.status_code == 200
    also = await api.client.get("/docs/openapi.json")
    assert also.status_code == 200
    assert served.json() == also.json()
    assert served.json()["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_problems_match_the_schema(api: Api) -> None:
    samples = [
        await api.client.get("/v1/customers"),  # 401, from the gate
        await api.get("/v1/customers/cus_nope"),  # 404, from a route
        await api.post("/v1/customers", {"email": 3}),  # 422 with errors
        await api.client.post(  # 400 (malformed JSON; a JSON content type, or it is 415)
            "/v1/customers", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
        ),
    ]
    for response in samples:
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = msgspec.json.decode(response.content, type=Problem)
        assert problem.status == response.status_code
        assert problem.type.endswith(problem.code)
    assert [r.status_code for r in samples] == [401, 404, 422, 400]


async def test_entitlements_schema_is_the_cached_body(api: Api) -> None:
    """Both entitlement read paths send bytes rendered below api/; the Entitlements struct is
    their schema, field for field and in order."""
    customer = await api.customer()
    response = await api.get(f"/v1/customers/{customer}/entitlements")
    typed = msgspec.json.decode(response.content, type=Entitlements)
    assert msgspec.json.encode(typed) == response.content
    assert list(msgspec.json.decode(response.content)) == list(Entitlements.__struct_fields__)
    from tenure.flows import entitlements as reads

    runtime = api.client.app.state.runtime
    view = await reads.one(runtime, customer_id=customer)
    assert msgspec.json.encode(entitlements_of(view)) == view.encoded


async def test_docs_render_from_local_assets(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert urls, html
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "http://" not in html and "https://" not in html, "no other host is contacted"
    assert "/openapi.json" in html
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for url in urls:
        asset = await api.client.get(url)  # public, like /docs
        assert asset.status_code == 200, url
        expected = next(kind for ext, kind in kinds.items() if url.endswith(ext))
        assert expected in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 100
    bundle = await api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.content
    # Swagger UI 5 reads OpenAPI 3.1 (4.x does not).
    assert re.search(rb'PACKAGE_VERSION:"5\.', bundle.content)
    hidden = await api.client.get("/docs/assets/swagger-editor-bundle.js")
    assert hidden.status_code == 404
