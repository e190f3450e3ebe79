"""A TCP proxy in front of PostgreSQL that a test can break: refuse, blackhole, restore.

- ``refuse()``: every open connection is cut and new ones are closed at once (the database
  process is gone; clients see "connection refused/reset").
- ``blackhole()``: connections are accepted and bytes are swallowed, nothing is answered (a
  network partition; clients see nothing until their own timeouts fire).
- ``restore()``: forward again (new connections; the cut ones stay cut).

It runs on its own thread and event loop: the application under test may run on another
loop (Litestar's test client) or block the test's loop while it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any, Literal

Mode = Literal["forward", "refuse", "blackhole"]


class FaultyProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "forward"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def refuse(self) -> None:
        self.mode = "refuse"
        self._cut()

    def blackhole(self) -> None:
        self.mode = "blackhole"  # open connections stop forwarding too (see _pipe)

    def restore(self) -> None:
        self.mode = "forward"
        self._cut()  # connections that lived through the fault are broken; pools reconnect

    def _cut(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.transport.abort()
            return
        self._writers.add(writer)
        if self.mode == "blackhole":
            await self._swallow(reader)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await source.read(65536)
                if not data:
                    break
                if self.mode == "blackhole":
                    continue  # swallowed: the other side waits for an answer that never comes
                sink.write(data)
                await sink.drain()
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.transport.abort()


class ThreadedProxy:
    """A :class:`FaultyProxy` on a thread of its own; the same controls, callable from any loop."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._proxy = FaultyProxy(target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._proxy.port

    def start(self) -> None:
        self._thread.start()
        self._run(self._proxy.start())

    def stop(self) -> None:
        self._run(self._proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def refuse(self) -> None:
        self._call(self._proxy.refuse)

    def blackhole(self) -> None:
        self._call(self._proxy.blackhole)

    def restore(self) -> None:
        self._call(self._proxy.restore)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def _call(self, function: Any) -> None:
        done: Future[None] = Future()

        def run() -> None:
            function()
            done.set_result(None)

        self._loop.call_soon_threadsafe(run)
        done.result(5)
