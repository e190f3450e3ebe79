"""The OpenAPI document: what each route answers, and what the gate answers for all of them.

A route declares the problems it answers itself with ``responses=problems(404, 409, ...)``.
What the gate in front of every route answers (api/gate.py: 401 without a valid key, 503 while
starting, 400 on control characters, and for every POST the ``Idempotency-Key`` header with
its 400/409/422) is the same for every operation, so :func:`finish` adds it to each one, with
the bearer security scheme. The finished document is built once per app and served as bytes
at ``/openapi.json`` and ``/docs/openapi.json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import msgspec
from litestar import Litestar
from litestar.enums import OpenAPIMediaType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin

from tenure import __version__
from tenure.api.authz import END_USER, PUBLIC, needed_scope
from tenure.api.gate import MAX_KEY_LENGTH
from tenure.api.problems import PROBLEM_JSON, Problem

PROBLEM_REF: Final = "#/components/schemas/Problem"

_TITLES: Final = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment declined",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    414: "URI too long",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    431: "Request header fields too large",
    503: "Service unavailable",
}
_GENERIC: Final = {
    402: "`code` is the decline code (`card_declined`, `insufficient_funds`, `expired_card`, "
    "`lost_card`, ...), with `invoice` and `retryable`",
    404: "`code` names what was not found",
    409: "`code` names the conflict with the current state",
    422: "`code` names the rule broken",
}

IDEMPOTENCY_KEY: Final[dict[str, Any]] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any string up to 255 characters, unique per request you mean to make once. The first "
        "response is stored and replayed (with `Idempotent-Replayed: true`) to every retry "
        "with the same key and the same request; the same key with another request answers "
        "422 `idempotency_key_reused`; a retry while the first is running answers 409 "
        "`idempotency_key_in_use`. 5xx answers are not stored."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}
BEARER: Final = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key: `Authorization: Bearer <key>`. See docs/operations.md.",
}


def _description(status: int, codes: Iterable[str]) -> str:
    listed = ", ".join(f"`{code}`" for code in codes) or _GENERIC.get(status, "")
    return f"{_TITLES[status]} (problem+json): {listed}".rstrip(": ")


def problems(*answers: int | tuple[int, str]) -> dict[int, ResponseSpec]:
    """The problem responses a route answers itself: a status, or a status and its codes
    (``(409, "subscription_exists trial_already_used")``)."""
    specs = {}
    for answer in answers:
        status, codes = (answer, "") if isinstance(answer, int) else answer
        specs[status] = ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_description(status, codes.split()),
            generate_examples=False,
        )
    return specs


def _gate_answers(method: str, operation: dict[str, Any], scope: str) -> dict[int, list[str]]:
    """What api/gate.py (and the framework's request parsing) can answer for ``operation``."""
    takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
    # api/limits.py answers the size limits (414, 431, 413), deep JSON and cut-short bodies
    # (400) and card numbers (422) for every route; a database that cannot be reached is a 503
    # with Retry-After (api/problems.py), and a constraint another request won is a 409.
    answers: dict[int, list[str]] = {
        400: ["invalid_characters"],
        401: ["unauthorized"],
        409: ["conflict"],
        414: ["uri_too_long"],
        422: ["card_number_not_accepted"],
        431: ["headers_too_large"],
        503: ["starting", "database_unavailable"],
    }
    if scope == END_USER:
        answers[401].append("invalid_token")
        answers[403] = ["end_user_token_required"]
        answers[503].append("identity_provider_unavailable")
    elif scope != PUBLIC:
        answers[403] = ["insufficient_scope"]
    if scope != PUBLIC:
        answers[429] = ["rate_limited"]  # with Retry-After and RateLimit-* (api/ratelimit.py)
        answers[400].append("unknown_parameter")  # api/hygiene.py
    if operation.get("requestBody") or method in ("post", "put", "patch", "delete"):
        answers[400] += ["malformed_json", "json_too_deep", "malformed_body"]
        answers[413] = ["body_too_large"]
        if scope != PUBLIC:
            answers[415] = ["unsupported_media_type"]
    if takes_input:
        answers[422] += ["invalid_request", "invalid_value"]
    if method == "post":
        answers[400].append("invalid_idempotency_key")
        answers[409].append("idempotency_key_in_use")
        answers[422].append("idempotency_key_reused")
    return answers


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }


def _merge(responses: dict[str, Any], status: int, codes: list[str]) -> None:
    existing = responses.get(str(status))
    if existing is not None and PROBLEM_JSON in existing.get("content", {}):
        listed = ", ".join(f"`{code}`" for code in codes)
        existing["description"] = f"{existing['description']}; {listed}"
    else:  # absent, or the framework's generic validation answer, which Tenure never sends
        responses[str(status)] = _problem_response(_description(status, codes))


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Add what every route answers through the gate, the Problem schema and bearer security."""
    components = document.setdefault("components", {})
    (_,), schemas = msgspec.json.schema_components(
        [Problem], ref_template="#/components/schemas/{name}"
    )
    components.setdefault("schemas", {}).update(schemas)
    for name, schema in components["schemas"].items():
        # A generated client names its classes after the title: make it the component's name
        # (the subscription status enum is the domain's ``Status``, published as
        # ``SubscriptionStatus``).
        if "title" in schema:
            schema["title"] = name
    components["securitySchemes"] = {"bearer": BEARER}
    document["security"] = [{"bearer": []}]
    for path, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            # Who may call it (api/authz.py, docs/security.md).
            scope = needed_scope(method.upper(), path)
            operation["x-required-scope"] = scope
            if scope == PUBLIC:
                operation["security"] = []
            if method == "post":
                parameters = operation.setdefault("parameters", [])
                parameters.append(dict(IDEMPOTENCY_KEY))
            for status, codes in sorted(_gate_answers(method, operation, scope).items()):
                _merge(operation["responses"], status, codes)
            operation["responses"] = dict(sorted(operation["responses"].items()))
    return document


def document(app: Litestar) -> bytes:
    """The finished OpenAPI document of ``app``, built on first use."""
    cached: bytes | None = getattr(app.state, "openapi_document", None)
    if cached is None:
        cached = msgspec.json.encode(finish(app.openapi_schema.to_schema()))
        app.state.openapi_document = cached
    return cached


class DocumentPlugin(OpenAPIRenderPlugin):
    """Serves the finished document at ``/docs/openapi.json`` too (the same bytes)."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json", media_type=OpenAPIMediaType.OPENAPI_JSON)

    def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
        return document(request.app)


def operation_id(handler: HTTPRouteHandler, method: Any, path: Any) -> str:
    """``subscription_read``, ``invoice_pay``: the controller's resource and the handler's name
    (a generated client names its functions after these); a plain handler keeps its own name."""
    verb = handler.handler_name.rstrip("_")
    owner, _, _ = getattr(handler.fn, "__qualname__", "").rpartition(".")
    if owner.endswith("Controller"):
        resource = re.sub(r"(?<!^)(?=[A-Z])", "_", owner.removesuffix("Controller"))
        return f"{resource.lower()}_{verb}"
    return verb


def config(render_plugins: list[OpenAPIRenderPlugin]) -> OpenAPIConfig:
    return OpenAPIConfig(
        operation_id_creator=operation_id,
        title="Tenure",
        version=__version__,
        path="/docs",
        render_plugins=[*render_plugins, DocumentPlugin()],
        description=(
            "Subscription lifecycle: catalog, trials, renewals, invoices, events. Every error "
            "is RFC 9457 `application/problem+json` with a stable `code`; money is integer "
            "minor units; timestamps are RFC 3339 UTC."
        ),
    )
