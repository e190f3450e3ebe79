"""Request limits, enforced before anything else reads the request (issue 10).

- A path (with its query) longer than the limit answers 414, request headers larger than the
  limit 431: both used to reach the database (a ``varchar`` column) and answer 500.
- The body is read here, counting while it arrives: a declared ``Content-Length`` over the
  limit is refused before reading, a streamed (chunked) body as soon as it passes the limit,
  so nothing buffers more than the limit (the idempotency gate used to buffer 300 MB first).
- JSON nested deeper than the limit answers 400 ``json_too_deep`` before any decoder recurses
  into it (a thousand levels raised ``RecursionError``: a 500).
- A body that ends early (the client went away, or malformed chunked encoding) answers 400.
- A card number (13 to 19 digits, Luhn-valid, grouped with spaces or dashes or not) anywhere
  in an API request's body, query or Idempotency-Key answers 422 ``card_number_not_accepted``:
  no free-text field, metadata value or stored header ever holds one (they used to be stored
  and echoed, and reach the outbox). Signed provider and store notifications are exempt.

The body read here is handed on unchanged, so signed provider notifications still verify.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import unquote_plus

from tenure.api.problems import PROBLEM_JSON, problem_bytes
from tenure.fault_settings import FaultSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Notifications signed by a payment provider or a store: their bytes are theirs to choose.
_SIGNED: Final = (
    "/v1/providers/",
    "/v1/stores/app_store/notifications",
    "/v1/stores/google_play/notifications",
)
_CARD: Final = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?!\d)")
# Adyen's storedPaymentMethodId: 16 digits starting with 8, no separators (a token, not a card;
# major industry identifier 8 is no card network's).
_ADYEN_TOKEN: Final = re.compile(r"8\d{15}")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_PAIR = re.compile(rb"\[\]|\{\}")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def has_card_number(text: str) -> bool:
    """Whether ``text`` holds a Luhn-valid 13-19 digit number, optionally grouped."""
    for match in _CARD.finditer(text):
        candidate = match.group(0)
        if _ADYEN_TOKEN.fullmatch(candidate):
            continue
        if _luhn(candidate.replace(" ", "").replace("-", "")):
            return True
    return False


def too_deep(body: bytes, limit: int) -> bool:
    """Whether JSON ``body`` nests deeper than ``limit`` (unbalanced input counts as deep).

    Strings are dropped first (brackets inside them do not count); each pass then removes the
    innermost empty pairs, so ``limit`` passes clear any document at most ``limit`` deep. All
    of it runs in the regex engine: a megabyte of brackets takes milliseconds, not a loop per
    byte in Python.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    tokens = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    for _ in range(limit):
        if not tokens:
            return False
        tokens = _PAIR.sub(b"", tokens)
    return bool(tokens)


async def _refuse(send: Send, status: int, code: str, title: str, detail: str, path: str) -> None:
    body = problem_bytes(status, code, title, detail, {"instance": path[:200]})
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def limited(app: ASGIApp, limits: FaultSettings) -> ASGIApp:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        raw = scope.get("raw_path") or path.encode("utf-8", "replace")
        if len(raw) + len(scope.get("query_string", b"")) > limits.max_path_bytes:
            await _refuse(
                send,
                414,
                "uri_too_long",
                "URI too long",
                f"the path and query string may hold at most {limits.max_path_bytes} bytes",
                path,
            )
            return
        headers = scope.get("headers", ())
        if sum(len(k) + len(v) for k, v in headers) > limits.max_header_bytes:
            await _refuse(
                send,
                431,
                "headers_too_large",
                "Request header fields too large",
                f"the request headers may hold at most {limits.max_header_bytes} bytes",
                path,
            )
            return
        scanned = path.startswith("/v1/") and not path.startswith(_SIGNED)
        if scanned and _card_outside_body(scope):
            await _refuse_card(send, path)
            return
        if scope.get("method") not in WITH_BODY:
            await app(scope, receive, send)
            return
        body = await _read(scope, receive, send, limits, path)
        if body is None:
            return
        if scanned and body and has_card_number(body.decode("utf-8", "replace")):
            await _refuse_card(send, path)
            return
        if too_deep(body, limits.max_json_depth):
            await _refuse(
                send,
                400,
                "json_too_deep",
                "JSON too deep",
                f"the request body nests arrays and objects more than {limits.max_json_depth} "
                "levels deep",
                path,
            )
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return handler


def _card_outside_body(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    if query and has_card_number(unquote_plus(query.decode("latin-1"))):
        return True
    return any(
        key.lower() == b"idempotency-key" and has_card_number(value.decode("latin-1"))
        for key, value in scope.get("headers", ())
    )


async def _refuse_card(send: Send, path: str) -> None:
    await _refuse(
        send,
        422,
        "card_number_not_accepted",
        "Card number not accepted",
        "the request carries what looks like a full card number; Tenure never accepts or "
        "stores card numbers. Collect the card with your payment provider and send its token",
        path,
    )


async def _read(
    scope: Scope, receive: Receive, send: Send, limits: FaultSettings, path: str
) -> bytes | None:
    """The whole body, or None after answering (too large, or cut short)."""
    declared = _declared_length(scope)
    if declared is not None and declared > limits.max_body_bytes:
        await _too_large(send, limits, path)
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Cut short: the client is gone, or the server could not decode the framing
            # (malformed chunked encoding). If anyone is still listening, tell them why.
            with contextlib.suppress(Exception):
                await _refuse(
                    send,
                    400,
                    "malformed_body",
                    "Malformed body",
                    "the request body ended before it was complete (check its framing)",
                    path,
                )
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.max_body_bytes:
            await _too_large(send, limits, path)
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _too_large(send: Send, limits: FaultSettings, path: str) -> None:
    await _refuse(
        send,
        413,
        "body_too_large",
        "Body too large",
        f"the request body may hold at most {limits.max_body_bytes} bytes",
        path,
    )
