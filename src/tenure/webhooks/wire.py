"""A lean HTTP/1.1 POST client for webhook deliveries, with kept-alive connections.

Deliveries need little of HTTP: one POST with a small body to a checked address, then the
status code and ``Retry-After`` of the answer. httpx spent over a millisecond of CPU per
delivery in its pool and transport layers (more than everything else the relay does), so
deliveries go over asyncio streams directly:

* connections are opened to the **address that was checked** (``sender.pin``), with TLS
  verifying the certificate against the host name (SNI), and pooled per origin and address:
  a connection is reused only for the host name it was opened and verified for;
* an answer is read up to its head (at most :data:`MAX_HEAD` bytes) and a body of at most
  ``max_body`` bytes announced by ``Content-Length``; only then is the connection reused. Any
  other answer (chunked, longer, ``Connection: close``, HTTP/1.0) closes it, unread: a
  receiver can never make the relay download anything big;
* a kept-alive connection that turns out closed before any answer byte (the receiver dropped
  it while idle) is retried once on a fresh connection; the event id stays the same, so a
  receiver deduplicates it like any redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Final

MAX_HEAD: Final = 16 * 1024
IDLE_S: Final = 5.0  # kept-alive connections idle longer than this are closed, not reused
_PER_ORIGIN: Final = 32  # idle connections kept per origin and address


class ProtocolFault(Exception):
    """The receiver answered something that is not HTTP/1.1."""


class _Dropped(Exception):
    """A reused connection was closed by the receiver before any answer byte."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        return (
            now - self.idle_since < IDLE_S
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


Key = tuple[str, str, int, str]  # scheme, host name (SNI), port, address


class Pool:
    """Idle connections per (scheme, host name, port, address); busy ones are not tracked."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self.tls = tls
        self._idle: dict[Key, deque[_Connection]] = {}

    async def post(
        self, key: Key, target: bytes, head: bytes, body: bytes, *, max_body: int
    ) -> Answer:
        """Send one request (``head`` is its header block after the request line)."""
        request = b"POST " + target + b" HTTP/1.1\r\n" + head + b"\r\n" + body
        connection = self._take(key)
        if connection is not None:
            try:
                return await self._exchange(key, connection, request, max_body, reused=True)
            except (_Dropped, ConnectionError):
                pass  # closed while idle: once more on a fresh connection
        connection = await self._open(key)
        return await self._exchange(key, connection, request, max_body, reused=False)

    def _take(self, key: Key) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.usable(now):
                return connection
            connection.close()
        return None

    async def _open(self, key: Key) -> _Connection:
        scheme, host, port, address = key
        if scheme == "https":
            reader, writer = await asyncio.open_connection(
                address, port, ssl=self.tls, server_hostname=host, limit=MAX_HEAD
            )
        else:
            reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEAD)
        return _Connection(reader, writer)

    async def _exchange(
        self, key: Key, connection: _Connection, request: bytes, max_body: int, *, reused: bool
    ) -> Answer:
        keep = False
        try:
            connection.writer.write(request)
            await connection.writer.drain()
            answer, keep = await _read_answer(connection.reader, max_body, reused=reused)
            return answer
        finally:
            if keep:
                connection.idle_since = time.monotonic()
                idle = self._idle.setdefault(key, deque())
                idle.append(connection)
                while len(idle) > _PER_ORIGIN:
                    idle.popleft().close()
            else:
                connection.close()

    def forget(self, keep: set[tuple[str, str, int]]) -> None:
        """Close the idle connections of every origin not in ``keep``."""
        for key in [k for k in self._idle if k[:3] not in keep]:
            for connection in self._idle.pop(key):
                connection.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


async def _read_answer(
    reader: asyncio.StreamReader, max_body: int, *, reused: bool
) -> tuple[Answer, bool]:
    """The answer's status and Retry-After, and whether the connection can serve another."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if reused and not error.partial:
                raise _Dropped from None
            raise ProtocolFault("the connection closed before a complete answer") from None
        except asyncio.LimitOverrunError:
            raise ProtocolFault(f"the answer's head is longer than {MAX_HEAD} bytes") from None
        status, version, fields = _parse_head(head)
        if status >= 200:
            break
        reused = False  # 1xx: informational, the real answer follows
    length = fields.get(b"content-length")
    keep = (
        version == b"HTTP/1.1"
        and b"close" not in fields.get(b"connection", b"").lower()
        and b"transfer-encoding" not in fields
        and length is not None
        and length.isdigit()
        and int(length) <= max_body
    )
    if keep and length is not None and int(length):
        await reader.readexactly(int(length))
    retry_after = fields.get(b"retry-after")
    return Answer(status, None if retry_after is None else retry_after.decode("latin-1")), keep


def _parse_head(head: bytes) -> tuple[int, bytes, dict[bytes, bytes]]:
    lines = head[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ProtocolFault("the answer is not HTTP/1.1")
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolFault("the answer has a malformed header line")
        name = name.strip().lower()
        if name in fields and name == b"content-length":
            raise ProtocolFault("the answer has two Content-Length headers")
        fields[name] = value.strip()
    return int(code), version, fields
