"""The webhook client (``webhooks.wire`` through ``sender``): kept-alive connections, answers
read only when short, a connection per host name and checked address, no header splitting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from tenure.webhooks import sender, wire

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@dataclass
class Server:
    """Answers every request with ``answer``; counts connections and requests."""

    answer: bytes = OK
    close_after: bool = False  # drop the connection after each answer (without saying so)
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                writer.write(self.answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Server]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


async def deliver(pool: wire.Pool, url: str, n: int) -> list[sender.Attempt]:
    target = await sender.pin(url, allow_private=True)
    headers = {"webhook-id": "evt_1", "content-type": "application/json"}
    return [await sender.send(pool, target, b'{"a": 1}', headers, limit_s=5) for _ in range(n)]


def pool() -> wire.Pool:
    return wire.Pool(httpx.create_ssl_context())


async def test_a_short_answer_keeps_the_connection_for_the_next_delivery() -> None:
    async with serving(Server()) as server:
        client = pool()
        attempts = await deliver(client, f"http://127.0.0.1:{server.port}/hooks?x=1", 20)
        client.close()
    assert all(a.ok and a.status_code == 200 for a in attempts)
    assert server.connections == 1 and len(server.requests) == 20
    first = server.requests[0]
    assert first.startswith(b"POST /hooks?x=1 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}\r\n".encode() in first
    assert first.endswith(b'\r\n\r\n{"a": 1}')


async def test_a_long_or_chunked_answer_is_not_read_and_its_connection_is_dropped() -> None:
    long = b"HTTP/1.1 204 No Content\r\ncontent-length: 100000\r\n\r\n" + b"x" * 100_000
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    for answer, status in ((long, 204), (chunked, 200)):
        async with serving(Server(answer)) as server:
            client = pool()
            attempts = await deliver(client, f"http://127.0.0.1:{server.port}/", 3)
            client.close()
        assert [a.status_code for a in attempts] == [status] * 3 and all(a.ok for a in attempts)
        assert server.connections == 3


async def test_a_connection_the_receiver_dropped_while_idle_is_retried_fresh() -> None:
    async with serving(Server(close_after=True)) as server:
        client = pool()
        attempts = await deliver(client, f"http://127.0.0.1:{server.port}/", 4)
        client.close()
    assert all(a.ok for a in attempts)
    assert len(server.requests) == 4 and server.connections == 4


async def test_failures_are_classified_never_raised() -> None:
    throttled = b"HTTP/1.1 429 Slow down\r\nretry-after: 30\r\ncontent-length: 0\r\n\r\n"
    async with serving(Server(throttled)) as server:
        client = pool()
        [attempt] = await deliver(client, f"http://127.0.0.1:{server.port}/", 1)
        client.close()
    assert not attempt.ok and attempt.status_code == 429
    assert attempt.retry_after is not None and attempt.retry_after.total_seconds() == 30
    async with serving(Server(b"garbage\r\n\r\n")) as server:
        client = pool()
        [attempt] = await deliver(client, f"http://127.0.0.1:{server.port}/", 1)
        client.close()
    assert not attempt.ok and "ProtocolFault" in (attempt.error or "")
    async with serving(Server()) as server:
        port = server.port
    client = pool()
    [attempt] = await deliver(client, f"http://127.0.0.1:{port}/", 1)  # nobody listens
    assert not attempt.ok and attempt.error


async def test_connections_are_kept_per_host_name_and_address() -> None:
    async with serving(Server()) as server:
        client = pool()
        for host in ("127.0.0.1", "127.0.0.1", "localhost"):
            target = sender.Pinned(
                key=("http", host, server.port, "127.0.0.1"), path=b"/", host=host
            )
            attempt = await sender.send(client, target, b"{}", {}, limit_s=5)
            assert attempt.ok
        client.close()
    # Same address, another host name: never the other name's connection.
    assert server.connections == 2
    assert b"host: localhost\r\n" in server.requests[2]


async def test_a_header_that_would_split_the_request_is_never_sent() -> None:
    async with serving(Server()) as server:
        client = pool()
        target = await sender.pin(f"http://127.0.0.1:{server.port}/", allow_private=True)
        attempt = await sender.send(client, target, b"{}", {"traceparent": "x\r\nevil: 1"})
        client.close()
    assert not attempt.ok and server.requests == []
