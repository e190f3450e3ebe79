"""One delivery attempt over HTTP, classified the Standard Webhooks way.

2xx within the timeout is success. Everything else is a failure: 3xx (redirects are not
followed), 410 Gone (and the endpoint is disabled), 429/502/503/504 honour ``Retry-After``.

An endpoint's URL is checked and resolved once per batch (:func:`pin`), and the attempts then
go to the address that was checked (see ``egress``), over ``wire``: a receiver's answer of at
most :data:`MAX_ANSWER` bytes is read so its connection is reused for the next delivery
(keep-alive); a longer answer is not downloaded, the connection is dropped instead.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import httpx

from tenure.events.deliveries import Attempt
from tenure.webhooks import wire
from tenure.webhooks.egress import EgressRefused, resolve

TIMEOUT: Final = 10.0
# Bytes of a receiver's answer read so its connection can be reused; past this it is dropped.
MAX_ANSWER: Final = 4096
_THROTTLED: Final = frozenset({429, 502, 503, 504})
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def classify(status: int, retry_after: str | None) -> Attempt:
    if 200 <= status < 300:
        return Attempt(ok=True, status_code=status)
    if 300 <= status < 400:
        return Attempt(ok=False, status_code=status, error=f"HTTP {status}: redirects are refused")
    wait = _retry_after(retry_after) if status in _THROTTLED else None
    return Attempt(
        ok=False, status_code=status, error=f"HTTP {status}", retry_after=wait, gone=status == 410
    )


def _retry_after(value: str | None) -> timedelta | None:
    if value is None or not value.strip().isdigit():
        return None  # HTTP-date forms are rare from receivers; the backoff applies then
    return timedelta(seconds=int(value.strip()))


@dataclass(frozen=True, slots=True)
class Pinned:
    """An endpoint URL after the egress check: requests go to ``address``, which was checked.

    ``origin`` (scheme, host name, port) names the connection pool the requests may share: a
    connection is only ever reused for the host name it was opened (and TLS-verified) for.
    """

    key: wire.Key  # scheme, host name (TLS SNI and certificate check), port, checked address
    path: bytes  # the request target: path and query, as registered
    host: str  # the Host header (host name and port as registered)

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.key[:3]


async def pin(url: str, *, allow_private: bool) -> Pinned:
    """Resolve ``url``'s host and check every address; raises :class:`EgressRefused`."""
    target = httpx.URL(url)
    port = target.port or _DEFAULT_PORTS.get(target.scheme, 443)
    address = await resolve(target.host, port, allow_private=allow_private)
    return Pinned(
        key=(target.scheme, target.host, port, address),
        path=target.raw_path,
        host=target.netloc.decode("ascii"),
    )


def refused(error: EgressRefused) -> Attempt:
    return Attempt(ok=False, error=f"refused: {error}")


def timed_out(limit_s: float) -> Attempt:
    return Attempt(ok=False, error=f"no answer within {limit_s:g} s")


async def send(
    pool: wire.Pool,
    target: Pinned,
    body: bytes,
    headers: dict[str, str],
    *,
    limit_s: float = TIMEOUT,
) -> Attempt:
    """POST ``body`` to a pinned endpoint; never raises for delivery failures."""
    try:
        head = _head(target, body, headers)
    except ValueError as error:
        return Attempt(ok=False, error=str(error))
    try:
        async with asyncio.timeout(limit_s):
            answer = await pool.post(target.key, target.path, head, body, max_body=MAX_ANSWER)
    except TimeoutError:
        return timed_out(limit_s)
    except ssl.SSLError as error:
        return Attempt(ok=False, error=f"TLS: {error}"[:500])
    except (OSError, EOFError, wire.ProtocolFault) as error:
        return Attempt(ok=False, error=f"{type(error).__name__}: {error}"[:500])
    return classify(answer.status, answer.retry_after)


def _head(target: Pinned, body: bytes, headers: dict[str, str]) -> bytes:
    """The header block; a value that could split it (CR, LF) is refused, never sent."""
    lines = [f"host: {target.host}", f"content-length: {len(body)}"]
    for name, value in headers.items():
        if name.lower() in ("host", "content-length"):
            continue
        if any(c in name or c in value for c in "\r\n\0"):
            raise ValueError(f"header {name!r} cannot be sent: it holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")
