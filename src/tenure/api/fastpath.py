"""The hot reads answered before the framework runs.

``GET /v1/entitlements/{external_id}`` and ``GET /v1/customers/{customer_id}/entitlements`` are
what every other service calls on every request. The caller is admitted by the gate's own
function (``api.gate.admit``: the same authentication, rate limit and refusals); holding
``entitlements:read``, it gets the customer's view written straight to the ASGI ``send``: from
the in-process cache, or read with the reader's one indexed statement (one read in flight per
customer), or the last known value marked ``Tenure-Stale`` while the database is unavailable
(a customer without one gets the route's 503). Everything else is handed on to the full
Litestar route, which gives the same answer: a query string (the route refuses unknown
parameters), a malformed id, a customer without a projection row or one behind by time (the
route computes it, or answers 404), a key without the scope (the route's guard answers 403).
A request handed on after admission carries its ``Admitted`` (``gate.ADMITTED``), so the gate
neither authenticates nor counts it twice. The profile in docs/performance.md showed the
framework's request path, not the lookup, dominating these reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import unquote

import msgspec
import structlog

from tenure.access.scopes import allows
from tenure.api.gate import (
    ADMITTED,
    ASGIApp,
    GateState,
    Message,
    Receive,
    Scope,
    Send,
    _header,
    admit,
)
from tenure.api.problems import PROBLEM_JSON, RETRY_AFTER, failure_problem
from tenure.entitlements.read import CACHE_CONTROL, View, etag_matches, stale
from tenure.flows.runtime import Runtime
from tenure.kernel.ids import is_valid_id
from tenure.observability.metrics import ENTITLEMENT_CACHE, Tally

BY_EXTERNAL: Final = "/v1/entitlements/"
BY_CUSTOMER: Final = "/v1/customers/"
SUFFIX: Final = "/entitlements"
ROUTES: Final = ("/v1/entitlements/{external_id}", "/v1/customers/{customer_id}/entitlements")
SCOPE: Final = "entitlements:read"
_CACHE_CONTROL: Final = CACHE_CONTROL.encode()
_JSON: Final = (b"content-type", b"application/json")
_HITS: Final = Tally(ENTITLEMENT_CACHE.labels("hit"))
MAX_EXTERNAL_ID: Final = 200  # longer ones cannot exist (the route answers 404)
log = structlog.get_logger("tenure.api.problems")


def fast_entitlements(
    app: ASGIApp, state_of: Callable[[], tuple[GateState, Runtime] | None]
) -> ASGIApp:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        target = _target(scope, state_of) if scope["type"] == "http" else None
        if target is None:
            await app(scope, receive, send)
            return
        key, by_customer, gate, runtime = target
        admitted = await admit(scope, send, gate)
        scope["path_template"] = ROUTES[by_customer]  # for the metrics and access log
        if admitted is None:
            return  # refused (401, 429, 503) exactly as the gate refuses
        scope[ADMITTED] = admitted  # handed on below: the gate neither asks nor counts again
        if not allows(admitted.principal.scopes, SCOPE) or admitted.principal.kind != "key":
            await app(scope, receive, send)  # the route's guard answers 403
            return
        reader = runtime.entitlements
        view = reader.cached_customer(key) if by_customer else reader.cached_external(key)
        if view is not None:
            _HITS.inc()  # (a miss is counted by the reader)
        else:
            try:  # the indexed read, one at a time per customer (read.EntitlementReader._read)
                if by_customer:
                    view = await reader.one(customer_id=key)
                else:
                    view = await reader.one(external_id=key)
            except Exception as error:
                if not await _unavailable(scope, send, error):
                    await app(scope, receive, send)
                return
        if view is None or (view.stale_age is None and stale(view, runtime.clock.now())):
            await app(scope, receive, send)  # no row, or behind by time: the route computes
            return
        await _answer(scope, send, view, admitted.headers)

    return handler


async def _answer(scope: Scope, send: Send, view: View, extra: list[tuple[bytes, bytes]]) -> None:
    """What ``routes.entitlements.respond`` answers, written directly."""
    if view.stale_age is None:
        headers = [(b"etag", view.etag.encode()), (b"cache-control", _CACHE_CONTROL)]
    else:  # the last known value while the database is unavailable (routes.stale_headers)
        headers = [
            (b"etag", view.etag.encode()),
            (b"tenure-stale", b"true"),
            (b"age", b"%d" % int(view.stale_age)),
            (b"cache-control", b"no-store"),
        ]
    condition = _header(scope, b"if-none-match")
    if condition is not None and etag_matches(condition, view.etag):
        status, body = 304, b""
    else:
        status, body = 200, view.encoded
        headers += [_JSON, (b"content-length", b"%d" % len(body))]
    headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _unavailable(scope: Scope, send: Send, error: Exception) -> bool:
    """The database could not be asked and no last known value is recent enough: the same
    503 as the route's (api/problems.internal_error), without asking the database twice."""
    mapped = failure_problem(error)
    if mapped is None or mapped[0] != 503:
        return False  # anything else: the full route answers it
    status, problem = mapped
    path = scope.get("path", "")
    log.warning(
        "request.dependency_failed",
        status=status,
        exc_type=type(error).__name__,
        method="GET",
        path=path,
    )
    problem.setdefault("instance", path)
    body = msgspec.json.encode(problem)
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", b"%d" % len(body)),
        (b"retry-after", str(RETRY_AFTER["seconds"]).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return True


def _target(
    scope: Scope, state_of: Callable[[], tuple[GateState, Runtime] | None]
) -> tuple[str, bool, GateState, Runtime] | None:
    """The customer (or external) id a fast-path read asks for, or None for any other
    request (the full path takes it)."""
    if scope.get("method") != "GET" or scope.get("query_string"):
        return None
    path: str = scope.get("path", "")
    if path.startswith(BY_EXTERNAL):
        key, by_customer = unquote(path[len(BY_EXTERNAL) :]), False
        if len(key) > MAX_EXTERNAL_ID:
            return None
    elif path.startswith(BY_CUSTOMER) and path.endswith(SUFFIX):
        key, by_customer = path[len(BY_CUSTOMER) : -len(SUFFIX)], True
        if not is_valid_id(key, "cus"):
            return None  # the route explains the malformed id
    else:
        return None
    if not key or "/" in key or not key.isprintable():  # control characters: the gate's 400
        return None
    ready = state_of()
    if ready is None:
        return None
    gate, runtime = ready
    return key, by_customer, gate, runtime


__all__ = ["Message", "fast_entitlements"]
