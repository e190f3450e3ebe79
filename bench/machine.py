"""Facts about the run: git sha, date, CPU, memory, PostgreSQL, load from other processes."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Facts:
    sha: str
    dirty: bool
    date: str
    nproc: int
    cpu_model: str
    memory_gib: float
    python: str
    libraries: str  # versions of the stack under test
    postgres: str
    postgres_settings: str
    load_average: tuple[float, float, float]


def _run(*command: str) -> str:
    try:
        return subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    for line in _run("lscpu").splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def library_versions() -> str:
    names = ("granian", "litestar", "msgspec", "sqlalchemy", "asyncpg", "aiosqlite")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


async def postgres_facts(admin_url: str) -> tuple[str, str]:
    connection = await asyncpg.connect(admin_url)
    try:
        version = str(await connection.fetchval("SHOW server_version"))
        names = ("shared_buffers", "synchronous_commit", "max_connections", "fsync")
        settings = [f"{name}={await connection.fetchval(f'SHOW {name}')}" for name in names]
    finally:
        await connection.close()
    return f"PostgreSQL {version}", ", ".join(settings)


async def collect(admin_url: str) -> Facts:
    postgres, settings = await postgres_facts(admin_url)
    load = os.getloadavg()
    return Facts(
        sha=_run("git", "rev-parse", "HEAD") or "unknown",
        dirty=bool(_run("git", "status", "--porcelain", "--untracked-files=no")),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        nproc=len(os.sched_getaffinity(0)),
        cpu_model=cpu_model(),
        memory_gib=memory_gib(),
        python=platform.python_version(),
        libraries=library_versions(),
        postgres=postgres,
        postgres_settings=settings,
        load_average=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
    )


def _cpu_times() -> tuple[int, int]:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


async def cpu_busy(seconds: float = 2.0) -> float:
    """Share of all CPUs busy over ``seconds`` (while the harness itself is idle)."""
    total, idle = _cpu_times()
    await asyncio.sleep(seconds)
    total_after, idle_after = _cpu_times()
    elapsed = total_after - total
    return 1.0 - (idle_after - idle) / elapsed if elapsed else 0.0


async def wait_for_quiet(limit: float, threshold: float = 0.25) -> float:
    """Wait (up to ``limit`` seconds) until other processes leave the CPUs mostly idle."""
    deadline = time.monotonic() + limit
    busy = await cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = await cpu_busy(5.0)
    return busy


def python_path() -> str:
    """PYTHONPATH for child processes: this checkout first (for ``bench``), then the caller's."""
    inherited = os.environ.get("PYTHONPATH")
    return f"{ROOT}{os.pathsep}{inherited}" if inherited else str(ROOT)
