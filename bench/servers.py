"""HTTP servers under test as child processes: started pinned, probed, always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def pinned(command: Sequence[str], cpu: str | None) -> list[str]:
    """``taskset -c CPU command`` when pinning is asked for and possible."""
    if cpu is None or not _has_taskset():
        return list(command)
    return ["taskset", "-c", cpu, *command]


def _has_taskset() -> bool:
    return any((Path(d) / "taskset").exists() for d in os.environ.get("PATH", "").split(":"))


@dataclass(frozen=True, slots=True)
class Running:
    pid: int
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@asynccontextmanager
async def serving(
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str] | None = None,
    cpu: str | None = None,
    log: Path,
    ready_path: str = "/healthz",
    start_seconds: float = 60.0,
) -> AsyncIterator[Running]:
    """Start ``command`` in its own process group; stop the whole group however we leave."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *pinned(command, cpu),
            env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        await _wait_ready(process, port, ready_path, start_seconds, log)
        yield Running(process.pid, port)
    finally:
        await stop_group(process)


async def _wait_ready(
    process: asyncio.subprocess.Process, port: int, path: str, seconds: float, log: Path
) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"server exited with {process.returncode}; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"server not ready on port {port} after {seconds:.0f} s; see {log}")


async def stop_group(process: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """SIGTERM the process group we created, then SIGKILL it if it lingers."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    # Granian's worker processes share the group; make sure none outlives its parent.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def tenure_command(port: int, database_url: str) -> list[str]:
    tenure = Path(sys.executable).with_name("tenure")
    return [
        str(tenure),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]


def tenure_env(api_key: str) -> dict[str, str]:
    # Rate limits stay on (their check is part of the measured path) but never throttle the load.
    limits = "entitlements=1000000/1000000,read=1000000/1000000,write=1000000/1000000"
    return {
        "TENURE_EMBEDDED_WORKER": "false",
        "TENURE_API_KEY": api_key,
        "TENURE_RATE_LIMITS": limits,
    }


def rawapp_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.rawapp", str(port)]
