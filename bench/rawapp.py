"""Baseline H: a raw ASGI callable on the same Granian settings as ``tenure serve``.

It answers ``GET /v1/entitlements/{external_id}`` with the JSON body of a real Tenure
entitlement response (captured in the same run, passed in ``BENCH_RAW_BODY``) whose
``external_id`` is the one in the path: parse the path, msgspec-encode a dict, send. No
framework, no database: the ceiling for this response on this server.

``python -m bench.rawapp PORT`` serves it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PREFIX = "/v1/entitlements/"
_HEALTH = b'{"status":"ok"}'


def create_app() -> ASGIApp:
    template: dict[str, Any] = msgspec.json.decode(os.environ.get("BENCH_RAW_BODY", "{}"))
    encode = msgspec.json.Encoder().encode

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path: str = scope["path"]
        if path.startswith(_PREFIX):
            body = encode({**template, "external_id": path[len(_PREFIX) :]})
            status = 200
        elif path == "/healthz":
            body, status = _HEALTH, 200
        else:
            body, status = b"{}", 404
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve(port: int) -> None:
    """The same Granian call as ``tenure serve`` (tenure/cli/main.py), for this app."""
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "bench.rawapp:create_app",
        factory=True,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
