"""Issue 10: killing ``tenure serve``'s main process leaves no worker serving the port.

Granian's main process starts the HTTP workers; after ``kill -9`` of the main process the
workers used to keep answering on the port (six processes on one port at one point). Now each
worker sees its parent go and stops within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx

from tests.integration.test_serve_processes import TENURE, _free_port
from tests.support.logscan import keep

KEY = "orphan-test-key-1"


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found.update(int(child) for child in text.split())
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited


async def test_workers_exit_when_the_main_process_is_killed(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = await asyncio.create_subprocess_exec(
        TENURE,
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--database-url",
        f"sqlite:///{tmp_path / 'tenure.db'}",
        env={**os.environ, "TENURE_API_KEY": KEY, "TENURE_LOG_FORMAT": "json"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    workers: set[int] = set()
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if (await client.get(f"{base}/livez")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server never became ready"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # both workers up
            workers = {pid for pid in _children(server.pid) if _alive(pid)}
            assert len(workers) >= 2, workers

            os.kill(server.pid, signal.SIGKILL)  # the main process only
            deadline = time.monotonic() + 20
            while any(_alive(pid) for pid in workers):
                assert time.monotonic() < deadline, [p for p in workers if _alive(p)]
                await asyncio.sleep(0.2)
        async with httpx.AsyncClient(timeout=2) as client:
            try:
                answer = await client.get(f"{base}/livez")
            except httpx.HTTPError:
                answer = None
        assert answer is None, "something still answers on the port"
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = await server.communicate()
        keep(err.decode() + out.decode(), "serve-orphans")
