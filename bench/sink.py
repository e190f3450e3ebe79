"""A webhook receiver for the outbox measurement: ``python -m bench.sink PORT OUT``.

It answers every POST with 200 at once and notes, per request, the ``webhook-id`` header
(the event id) and the wall-clock arrival time (``time.time()``, comparable with the
database's ``recorded_at``). It verifies no signature: it stands for a fast receiver, so that
what is measured is Tenure's sequencing and delivery. The notes are written to OUT as
``event_id<TAB>arrival`` lines on SIGTERM (and every second, so a killed sink loses little);
it prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class _Receiver(asyncio.Protocol):
    def __init__(self, arrivals: list[tuple[str, float]]) -> None:
        self.arrivals = arrivals
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            length = 0
            event_id = ""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    event_id = value.strip().decode()
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self.arrivals.append((event_id, time.time()))
            assert self.transport is not None
            self.transport.write(_OK)


async def serve(port: int, out: Path) -> None:
    arrivals: list[tuple[str, float]] = []
    written = 0
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_server(lambda: _Receiver(arrivals), "127.0.0.1", port)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    with out.open("w") as handle:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            fresh = arrivals[written:]
            written += len(fresh)
            handle.writelines(f"{event_id}\t{at:.6f}\n" for event_id, at in fresh)
            handle.flush()
    server.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), Path(sys.argv[2])))
