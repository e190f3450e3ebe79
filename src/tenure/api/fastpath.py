"""The hot read answered from memory, before the framework runs.

``GET /v1/entitlements/{external_id}`` is what every other service calls on every request. When
the caller's key and the answer are both already in this process's memory (the same checks the
route makes: a known key, a fresh cache entry, not stale), the answer is written straight to the
ASGI ``send``; anything else falls through to the full Litestar route, which gives the same
answer. The profile in docs/performance.md showed the framework's request path, not the lookup,
dominating cache hits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import unquote

from tenure.access.scopes import allows
from tenure.api.gate import ASGIApp, GateState, Message, Receive, Scope, Send, _header
from tenure.entitlements.read import CACHE_CONTROL, etag_matches, stale
from tenure.flows.runtime import Runtime
from tenure.observability.metrics import ENTITLEMENT_CACHE

PREFIX: Final = "/v1/entitlements/"
ROUTE: Final = "/v1/entitlements/{external_id}"
SCOPE: Final = "entitlements:read"
_CACHE_CONTROL: Final = CACHE_CONTROL.encode()
_HITS: Final = ENTITLEMENT_CACHE.labels("hit")


def fast_entitlements(
    app: ASGIApp, state_of: Callable[[], tuple[GateState, Runtime] | None]
) -> ASGIApp:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        answer = _answer(scope, state_of) if scope["type"] == "http" else None
        if answer is None:
            await app(scope, receive, send)
            return
        status, headers, body, gate, key_id = answer
        if gate.limits is not None:
            decision = await gate.limits.check("GET", scope["path"], key_id)
            if decision is not None and not decision.allowed:
                await app(scope, receive, send)  # the full path answers the 429
                return
            if decision is not None:
                headers = [*headers, *decision.headers()]
        scope["path_template"] = ROUTE  # for the metrics and access log around this
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        _HITS.inc()

    return handler


def _answer(
    scope: Scope, state_of: Callable[[], tuple[GateState, Runtime] | None]
) -> tuple[int, list[tuple[bytes, bytes]], bytes, GateState, str] | None:
    path: str = scope.get("path", "")
    if scope.get("method") != "GET" or not path.startswith(PREFIX):
        return None
    external_id = unquote(path[len(PREFIX) :])
    if not external_id or "/" in external_id or any(ord(c) < 0x20 for c in external_id):
        return None
    ready = state_of()
    if ready is None:
        return None
    gate, runtime = ready
    scheme, _, secret = (_header(scope, b"authorization") or "").partition(" ")
    principal = gate.keys.known(secret.strip()) if scheme.lower() == "bearer" else None
    if principal is None or not allows(principal.scopes, SCOPE):
        return None  # unknown or missing key, or lacking the scope: the full path answers
    view = runtime.entitlements.cached_external(external_id)
    if view is None or stale(view, runtime.clock.now()):
        return None
    headers = [(b"etag", view.etag.encode()), (b"cache-control", _CACHE_CONTROL)]
    condition = _header(scope, b"if-none-match")
    if condition is not None and etag_matches(condition, view.etag):
        return 304, headers, b"", gate, principal.id
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(view.encoded)).encode()),
    ]
    return 200, headers, view.encoded, gate, principal.id


__all__ = ["Message", "fast_entitlements"]
