"""Where the time goes: py-spy samples of a running process, and per-statement SQL timing.

py-spy is optional (``.venv/bin/pip install py-spy``); without it the report says so. SQL
timing hooks SQLAlchemy's cursor events in the process that runs the code (the renewal
worker), so it names the statements that take the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

LIBRARIES: tuple[str, ...] = (
    *("tenure", "sqlalchemy", "asyncpg", "aiosqlite", "litestar", "msgspec", "asyncio"),
    *("structlog", "prometheus_client", "alembic", "granian", "greenlet", "bench"),
)


@dataclass(frozen=True, slots=True)
class Cost:
    name: str
    share: float  # of the samples (py-spy) or of the run's wall time (SQL)
    seconds: float = 0.0
    calls: int = 0


@dataclass(slots=True)
class Profile:
    label: str
    samples: int = 0
    functions: list[Cost] = field(default_factory=list)  # inclusive, Tenure's own frames
    hotspots: list[Cost] = field(default_factory=list)  # self time, any frame
    layers: list[Cost] = field(default_factory=list)  # self time by library
    queries: list[Cost] = field(default_factory=list)  # SQL statements by total time
    wall: float = 0.0  # seconds the profiled run took (for the SQL figures)
    items: int = 0  # renewals or checkouts in the profiled run
    executions: int = 0  # SQL executions (an executemany counts once)
    commits: int = 0
    note: str = ""


# --- SQL timing -------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_PARAMS = re.compile(r"\$\d+(::(TIMESTAMP WITH(OUT)? TIME ZONE|[A-Z]+)(\[\])?)?")


def statement_key(statement: str) -> str:
    text = _PARAMS.sub("?", _SPACES.sub(" ", statement).strip())
    return text if len(text) <= 100 else text[:97] + "..."


COMMITS = "COMMIT"


@contextlib.contextmanager
def sql_timer(engine: AsyncEngine) -> Iterator[dict[str, list[float]]]:
    """Collect ``statement -> [total seconds, executions]`` for everything ``engine`` runs;
    ``COMMITS`` counts commits (not timed)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    sync = engine.sync_engine

    def commit(conn: Any) -> None:
        totals[COMMITS][1] += 1

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started = conn.info["bench_started"].pop()
        entry = totals[statement_key(statement)]
        entry[0] += time.perf_counter() - started
        entry[1] += 1

    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)
    event.listen(sync, "commit", commit)
    try:
        yield totals
    finally:
        event.remove(sync, "before_cursor_execute", before)
        event.remove(sync, "after_cursor_execute", after)
        event.remove(sync, "commit", commit)


def add_sql(profile: Profile, totals: dict[str, list[float]], *, wall: float, items: int) -> None:
    """Statements by total time (``share`` of all SQL time: statements may overlap), and the
    executions and commits per item."""
    statements = {name: value for name, value in totals.items() if name != COMMITS}
    everything = sum(seconds for seconds, _ in statements.values()) or 1.0
    ordered = sorted(statements.items(), key=lambda item: -item[1][0])[:8]
    profile.queries = [
        Cost(name, seconds / everything, seconds, int(count)) for name, (seconds, count) in ordered
    ]
    profile.wall, profile.items = wall, items
    profile.executions = int(sum(count for _, count in statements.values()))
    profile.commits = int(totals.get(COMMITS, [0.0, 0.0])[1])


# --- py-spy -----------------------------------------------------------------------------------


def py_spy_path() -> str | None:
    local = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


async def start_py_spy(
    pid: int, out: Path, *, seconds: float | None, idle: bool = False
) -> asyncio.subprocess.Process | None:
    """Start sampling ``pid`` and its children; without ``seconds``, until ``pid`` exits."""
    binary = py_spy_path()
    if binary is None:
        return None
    command = [binary, "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
    command += ["--rate", "200", "--nonblocking", "--output", str(out)]
    if seconds is not None:
        command += ["--duration", str(max(1, int(seconds)))]
    if idle:
        command.append("--idle")
    return await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def finish_py_spy(
    label: str, process: asyncio.subprocess.Process | None, out: Path
) -> Profile:
    if process is None:
        return Profile(label, note="py-spy not installed (.venv/bin/pip install py-spy)")
    _, error = await asyncio.wait_for(process.communicate(), timeout=120)
    text = _read(out)
    if text is None:
        return Profile(label, note=f"py-spy failed: {error.decode(errors='replace')[-300:]}")
    return summarize_collapsed(label, text)


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


async def py_spy(label: str, pid: int, seconds: float, out_dir: Path) -> Profile:
    out = out_dir / f"py-spy-{re.sub(r'[^a-z0-9]+', '-', label.lower())}.txt"
    return await finish_py_spy(label, await start_py_spy(pid, out, seconds=seconds), out)


_FRAME = re.compile(r"^(?P<name>.*?) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")


def frame_name(frame: str) -> str:
    """``run_due (/x/src/tenure/flows/due.py:52)`` -> ``tenure/flows/due.py run_due``."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = "/" + match["path"]
    for library in LIBRARIES:
        marker = f"/{library}/"
        if marker in path:
            path = library + "/" + path.rsplit(marker, 1)[1]
            break
    else:
        path = Path(path).name
    return f"{path} {match['name']}"


def library_of(name: str) -> str:
    head = name.split("/", 1)[0]
    if head in LIBRARIES:
        return head
    if name.startswith(("selectors.py", "socket.py", "ssl.py")):
        return "asyncio"
    return "other (stdlib, C)"


def summarize_collapsed(label: str, text: str, *, top: int = 8) -> Profile:
    """Inclusive (Tenure frames), self (any frame) and per-library shares of Python samples.

    Samples without a Python frame (Granian's Rust threads, an idle parent) are left out.
    """
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    layers: dict[str, int] = defaultdict(int)
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames or frames[-1].startswith(("granian/", "bench/")):
            continue  # no Python frame, Granian's main thread waiting in Rust, or the harness
        count = int(count_text)
        total += count
        for name in set(frames):
            if name.startswith("tenure/") and not name.startswith("tenure/cli/"):
                inclusive[name] += count
        own[frames[-1]] += count
        layers[library_of(frames[-1])] += count
    result = Profile(label, samples=total)
    if total:
        result.functions = _shares(inclusive, total, top)
        result.hotspots = _shares(own, total, top)
        result.layers = _shares(layers, total, len(layers))
    return result


def _shares(counts: dict[str, int], total: int, top: int) -> list[Cost]:
    ordered = sorted(counts.items(), key=lambda item: -item[1])[:top]
    return [Cost(name, count / total) for name, count in ordered]
