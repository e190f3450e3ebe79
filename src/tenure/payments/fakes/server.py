"""A small threaded HTTP server the fake providers run on (standard library only).

Each request runs in its own thread, so a fake can hold one response back (a timeout after
charging) while it answers others. ``FakeServer.start()`` runs it in a background thread for
tests; ``serve_forever()`` runs it in the foreground for ``make run``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, Any]:
        return nested(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to hold the answer back (a slow or timed-out provider)


Handler = Callable[[Request], Response]


def nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding: ``metadata[k]=v``, ``created[gte]=1``, ``types[0]=card``."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return {key: _lists(value) for key, value in out.items()}


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(key.isdigit() for key in value):
            return [_lists(value[key]) for key in sorted(value, key=int)]
        return {key: _lists(item) for key, item in value.items()}
    return value


class FakeServer:
    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        outer = self
        self.handler = handler
        self._stopping = threading.Event()

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                split = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=split.path,
                    query=nested(parse_qsl(split.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                try:
                    response = outer.handler(request)
                except Exception as error:  # a bug in the fake: say so, loudly
                    response = Response(500, {"fake_error": f"{type(error).__name__}: {error}"})
                if response.delay and outer._stopping.wait(response.delay):
                    return
                payload = b"" if response.body is None else json.dumps(response.body).encode()
                self.send_response(response.status)
                headers = {"content-type": "application/json", **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: request lines may carry tokens

        self.httpd = ThreadingHTTPServer((host, port), _RequestHandler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
