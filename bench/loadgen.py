"""An HTTP/1.1 keep-alive load generator on asyncio, run pinned to its own core.

Three modes over a list of prepared requests:

- ``closed``: every connection sends its next request as soon as the previous answer is in;
  the result is the maximum throughput.
- ``rate``: requests are *scheduled* at a fixed rate and their latency is measured from the
  scheduled moment (open loop), so a stalled server cannot hide its queueing from the numbers.
- ``once``: each request is sent exactly once (for writes such as checkouts).

``python -m bench.loadgen SPEC.json`` prints one JSON :class:`LoadResult`; the harness runs it
under ``taskset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import msgspec

Mode = Literal["closed", "rate", "once"]


class Request(msgspec.Struct, frozen=True):
    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = {}


class Spec(msgspec.Struct, frozen=True):
    host: str
    port: int
    mode: Mode
    requests: list[Request]
    connections: int = 32
    duration: float = 5.0  # closed and rate modes; a bound for once mode
    rate: float = 0.0  # requests per second, rate mode


class LoadResult(msgspec.Struct, frozen=True):
    mode: str
    requests: int  # answered, any status
    errors: int  # non-2xx answers, failed connections, requests never answered
    seconds: float
    rps: float  # answered 2xx per second
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    offered_rps: float = 0.0
    statuses: dict[str, int] = {}
    scheduled: int = 0  # rate mode: requests scheduled (duration x rate)
    send_lag_p99_ms: float = 0.0  # rate mode: how late the 99th percentile request went out
    client_cpu: float = 0.0  # rate mode (C client): its CPU time / wall time; near 1: saturated
    generator: str = "bench/loadgen.py (asyncio)"

    @property
    def held(self) -> float:
        """Rate mode: the share of the scheduled rate answered with 2xx."""
        return self.rps / self.offered_rps if self.offered_rps else 0.0

    @property
    def unanswered(self) -> int:
        return self.statuses.get("unanswered", 0)


def encode_request(request: Request, host: str, port: int) -> bytes:
    body = request.body.encode() if request.body is not None else b""
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if body or request.method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            status = self._take_response()
            if status is not None:
                self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def _take_response(self) -> int | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            stop = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : stop if stop >= 0 else None])
            total = end + 4 + length
        elif b"transfer-encoding: chunked" in head:
            last = self.buffer.find(b"\r\n0\r\n\r\n", end)
            if last < 0:
                return None
            total = last + 7
        else:
            total = end + 4
        if len(self.buffer) < total:
            return None
        del self.buffer[:total]
        return status

    async def send(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


class _Recorder:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.ok = 0
        self.last = 0.0  # perf_counter() of the latest answer

    def note(self, status: int | str, latency: float) -> None:
        self.last = time.perf_counter()
        self.latencies.append(latency)
        self.statuses[str(status)] += 1
        if isinstance(status, int) and 200 <= status < 300:
            self.ok += 1

    def result(self, mode: Mode, seconds: float, offered: float, missing: int) -> LoadResult:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float:
            if not ordered:
                return 0.0
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        answered = sum(count for status, count in self.statuses.items() if status.isdigit())
        if missing:
            self.statuses["unanswered"] += missing
        return LoadResult(
            mode=mode,
            requests=answered,
            errors=sum(self.statuses.values()) - self.ok,
            seconds=seconds,
            rps=self.ok / seconds if seconds > 0 else 0.0,
            p50_ms=pct(0.50),
            p99_ms=pct(0.99),
            p999_ms=pct(0.999),
            max_ms=ordered[-1] * 1000 if ordered else 0.0,
            offered_rps=offered,
            statuses=dict(self.statuses),
        )


async def _connect(spec: Spec, count: int) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(count):
        _, protocol = await loop.create_connection(_Connection, spec.host, spec.port)
        connections.append(protocol)
    return connections


async def _exchange(
    connection: _Connection, data: bytes, recorder: _Recorder, since: float
) -> bool:
    try:
        status = await connection.send(data)
    except ConnectionError:
        recorder.note("connection_error", time.perf_counter() - since)
        return False
    recorder.note(status, time.perf_counter() - since)
    return True


async def run_closed(spec: Spec, payloads: Sequence[bytes]) -> LoadResult:
    recorder = _Recorder()
    connections = await _connect(spec, spec.connections)
    cycle = itertools.cycle(payloads)
    started = time.perf_counter()
    deadline = started + spec.duration

    async def loop(connection: _Connection) -> None:
        while time.perf_counter() < deadline:
            if not await _exchange(connection, next(cycle), recorder, time.perf_counter()):
                return

    await asyncio.gather(*(loop(connection) for connection in connections))
    seconds = time.perf_counter() - started
    _close(connections)
    return recorder.result("closed", seconds, 0.0, 0)


async def run_once(spec: Spec, payloads: Sequence[bytes]) -> LoadResult:
    recorder = _Recorder()
    connections = await _connect(spec, min(spec.connections, len(payloads)))
    pending = iter(payloads)
    started = time.perf_counter()
    deadline = started + spec.duration

    async def loop(connection: _Connection) -> None:
        for payload in pending:
            if time.perf_counter() > deadline:
                return
            if not await _exchange(connection, payload, recorder, time.perf_counter()):
                return

    await asyncio.gather(*(loop(connection) for connection in connections))
    seconds = time.perf_counter() - started
    _close(connections)
    return recorder.result("once", seconds, 0.0, 0)


async def run_rate(spec: Spec, payloads: Sequence[bytes], *, grace: float = 5.0) -> LoadResult:
    """Open loop: request ``i`` is due at ``start + i / rate``; latency counts from then."""
    recorder = _Recorder()
    connections = await _connect(spec, spec.connections)
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    cycle = itertools.cycle(payloads)
    interval = 1.0 / spec.rate
    total = int(spec.duration * spec.rate)

    async def worker(connection: _Connection) -> None:
        while True:
            due, payload = await queue.get()
            try:
                if not await _exchange(connection, payload, recorder, due):
                    return
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker(connection)) for connection in connections]
    started = time.perf_counter()
    scheduled = 0
    while scheduled < total:
        now = time.perf_counter()
        while scheduled < total and started + scheduled * interval <= now:
            queue.put_nowait((started + scheduled * interval, next(cycle)))
            scheduled += 1
        await asyncio.sleep(max(0.0, started + scheduled * interval - time.perf_counter()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(queue.join(), timeout=grace)
    seconds = max(recorder.last - started, spec.duration)
    for task in workers:
        task.cancel()
    _close(connections)
    missing = total - len(recorder.latencies)
    result = recorder.result("rate", seconds, spec.rate, missing)
    return msgspec.structs.replace(result, scheduled=total)


def _close(connections: Sequence[_Connection]) -> None:
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()


async def run(spec: Spec) -> LoadResult:
    payloads = [encode_request(request, spec.host, spec.port) for request in spec.requests]
    if spec.mode == "closed":
        return await run_closed(spec, payloads)
    if spec.mode == "rate":
        return await run_rate(spec, payloads)
    return await run_once(spec, payloads)


def main() -> None:
    with open(sys.argv[1], "rb") as handle:
        spec = msgspec.json.decode(handle.read(), type=Spec)
    result = asyncio.run(run(spec))
    sys.stdout.write(msgspec.json.encode(result).decode() + "\n")


if __name__ == "__main__":
    main()
