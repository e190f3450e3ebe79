"""The outermost ASGI layer: request id, access log line, HTTP metrics, request span name.

It wraps everything, the entitlement fast path included, so each request gets exactly one of
each. Cheap by design (the entitlement read is benchmarked): a header scan, a contextvar, two
metric updates batched in process (``metrics.Tally``/``Timings``, applied once a second and
before each scrape) and one log line (written with the others of the same event-loop turn,
``logs.access``).

- ``X-Request-Id``: the caller's value when it is a safe token (``context.accept_request_id``),
  else a new ``req_…`` id; returned in the response header, bound to every log line and outbox
  event recorded while the request runs, and put in problem+json bodies.
- One ``http.request`` line per request: method, route template, path, status, duration.
- An exception that escapes the application (it should not: Litestar answers its own) is
  logged as one line and answered 500 problem+json, if nothing was sent yet.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import msgspec
import structlog

from tenure.observability import logs, tracing
from tenure.observability.context import REQUEST_ID, accept_request_id, new_request_id
from tenure.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS, Tally, Timings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER: Final = b"x-request-id"
UNMATCHED: Final = "unmatched"
# Probes and scrapes are counted in metrics but do not write access lines.
QUIET_PATHS: Final = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})

log = structlog.get_logger("tenure.http")


_active = [0]  # requests in flight in this process
_children: dict[tuple[str, str, int], tuple[Tally, Timings]] = {}


def _series(method: str, route: str, status: int) -> tuple[Tally, Timings]:
    """The batched metric children of one (method, route, status), made once per process."""
    key = (method, route, status)
    found = _children.get(key)
    if found is None:
        found = _children[key] = (
            Tally(HTTP_REQUESTS.labels(method, route, str(status))),
            Timings(HTTP_LATENCY.labels(method, route)),
        )
    return found


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == HEADER or key.lower() == HEADER:
            accepted = accept_request_id(value.decode("latin-1"))
            if accepted is not None:
                return accepted
            break
    return new_request_id()


def observed(app: ASGIApp, *, access_log: bool = True) -> ASGIApp:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        _active[0] += 1
        header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        state = {"status": 500, "sent": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["sent"] = True
                message["headers"] = [*message.get("headers", ()), header]
                if tracing.enabled():  # routed by now; the span ends with the body
                    tracing.name_request(
                        scope.get("method", ""), scope.get("path_template") or UNMATCHED
                    )
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        except Exception as error:  # a bug below the framework: one line, a clean 500
            log.error("request.failed", exc_info=error, method=scope.get("method"))
            if not state["sent"]:
                await _internal_error(send_with_id, request_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            route = scope.get("path_template") or UNMATCHED
            status = state["status"]
            counter, histogram = _series(method, route, status)
            counter.inc()
            histogram.observe(elapsed)
            path = scope.get("path", "")
            if access_log and path not in QUIET_PATHS:
                logs.access(
                    method=method,
                    route=route,
                    path=path,
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
            REQUEST_ID.reset(token)
            _active[0] -= 1
            if not _active[0]:
                logs.release()  # idle: nothing else will end this event-loop turn's lines

    return handler


async def _internal_error(send: Send, request_id: str) -> None:
    body = msgspec.json.encode(
        {
            "type": "https://tenure.dev/problems/internal_error",
            "title": "Internal error",
            "status": 500,
            "detail": "an unexpected error occurred; it has been logged",
            "code": "internal_error",
            "request_id": request_id,
        }
    )
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
