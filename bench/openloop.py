"""The fixed-rate (open-loop) client: ``bench/openloop.c``, built with the system's gcc.

The asyncio client in ``bench/loadgen.py`` could not hold H's rate on one core (issue 17: 91%
answered), so the latency runs use this small C program instead (one thread, epoll, no
dependency but libc). It is compiled once per run into the run's working directory; without
gcc the harness falls back to ``bench/loadgen.py`` and says so in the report.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import msgspec

from bench.loadgen import LoadResult, Request, encode_request
from bench.servers import HOST, pinned

SOURCE = Path(__file__).with_name("openloop.c")
NAME = "bench/openloop.c (C, epoll)"


class _Output(msgspec.Struct, frozen=True):
    scheduled: int
    sent: int
    answered: int
    ok: int
    connection_errors: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    cpu_seconds: float
    wall_seconds: float
    send_lag_p99_ms: float
    send_lag_max_ms: float
    statuses: dict[str, int]


def build(workdir: Path) -> Path | None:
    """Compile the generator into ``workdir`` (once); None when there is no C compiler."""
    binary = workdir / "openloop"
    if binary.exists():
        return binary
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return None
    subprocess.run(
        [compiler, "-O2", "-o", str(binary), str(SOURCE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return binary


def to_result(output: _Output) -> LoadResult:
    statuses = dict(output.statuses)
    unanswered = output.scheduled - output.answered - output.connection_errors
    if output.connection_errors:
        statuses["connection_error"] = output.connection_errors
    if unanswered > 0:
        statuses["unanswered"] = unanswered
    return LoadResult(
        mode="rate",
        requests=output.answered,
        errors=sum(statuses.values()) - output.ok,
        seconds=output.seconds,
        rps=output.ok / output.seconds if output.seconds > 0 else 0.0,
        p50_ms=output.p50_ms,
        p99_ms=output.p99_ms,
        p999_ms=output.p999_ms,
        max_ms=output.max_ms,
        offered_rps=output.rate,
        statuses=statuses,
        scheduled=output.scheduled,
        send_lag_p99_ms=output.send_lag_p99_ms,
        client_cpu=output.cpu_seconds / output.wall_seconds if output.wall_seconds > 0 else 0.0,
        generator=NAME,
    )


async def run(
    binary: Path,
    port: int,
    requests: Sequence[Request],
    *,
    rate: float,
    connections: int,
    duration: float,
    cpu: str | None,
    workdir: Path,
    grace: float = 5.0,
) -> LoadResult:
    """``rate`` GETs per second for ``duration`` seconds, latency from each one's due time."""
    if any(request.body is not None for request in requests):
        raise ValueError("the open-loop client sends GETs only")
    path = workdir / "openloop-requests.txt"
    path.write_bytes(b"".join(encode_request(request, HOST, port) for request in requests))
    command = [str(binary), HOST, str(port), f"{rate:.3f}", f"{duration:g}"]
    command += [str(connections), f"{grace:g}", str(path)]
    process = await asyncio.create_subprocess_exec(
        *pinned(command, cpu), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        output, error = await asyncio.wait_for(process.communicate(), timeout=duration + grace + 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"openloop failed: {error.decode(errors='replace')[-500:]}")
    return to_result(msgspec.json.decode(output, type=_Output))
