"""Running a load generator against a server: wrk for maximum GET throughput, else ours."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench import openloop, wrk
from bench.loadgen import LoadResult, Mode, Request, Spec
from bench.machine import ROOT, python_path
from bench.servers import HOST, pinned


@dataclass(frozen=True, slots=True)
class Generator:
    """Where and how load is generated: the CPU it is pinned to, and whether wrk is used."""

    cpu: str | None
    workdir: Path
    use_wrk: bool = True
    openloop: Path | None = None  # the built C fixed-rate client; None: bench/loadgen.py

    def with_openloop(self) -> Generator:
        """This generator with the C fixed-rate client built (when a C compiler is there)."""
        return Generator(self.cpu, self.workdir, self.use_wrk, openloop.build(self.workdir))

    @property
    def closed_loop_name(self) -> str:
        return "wrk -t1" if self.use_wrk and wrk.available() else "bench.loadgen (asyncio)"


async def loadgen(
    generator: Generator,
    port: int,
    requests: Sequence[Request],
    *,
    mode: Mode,
    connections: int,
    duration: float,
    rate: float = 0.0,
) -> LoadResult:
    """Run ``python -m bench.loadgen`` pinned to ``generator.cpu`` and return its result."""
    spec = Spec(HOST, port, mode, list(requests), connections, duration, rate)
    path = generator.workdir / f"loadgen-{uuid.uuid4().hex[:8]}.json"
    path.write_bytes(msgspec.json.encode(spec))
    command = pinned([sys.executable, "-m", "bench.loadgen", str(path)], generator.cpu)
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": python_path()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        output, error = await asyncio.wait_for(process.communicate(), timeout=duration + 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        path.unlink(missing_ok=True)
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed: {error.decode(errors='replace')[-800:]}")
    return msgspec.json.decode(output.strip().splitlines()[-1], type=LoadResult)


def gets(paths: Sequence[str], headers: Mapping[str, str]) -> list[Request]:
    return [Request("GET", path, None, dict(headers)) for path in paths]


async def max_throughput(
    generator: Generator,
    port: int,
    paths: Sequence[str],
    headers: Mapping[str, str],
    *,
    connections: int,
    duration: float,
) -> LoadResult:
    """Closed loop: wrk when available (it costs less CPU per request), else our client."""
    if generator.use_wrk and wrk.available():
        return await wrk.run(
            port,
            paths,
            headers,
            connections=connections,
            duration=duration,
            cpu=generator.cpu,
            workdir=generator.workdir,
        )
    return await loadgen(
        generator,
        port,
        gets(paths, headers),
        mode="closed",
        connections=connections,
        duration=duration,
    )


async def fixed_rate(
    generator: Generator,
    port: int,
    paths: Sequence[str],
    headers: Mapping[str, str],
    *,
    rate: float,
    connections: int,
    duration: float,
) -> LoadResult:
    """Open loop at ``rate`` requests/s for latency percentiles (wrk has no fixed rate): the C
    client when it was built, else the asyncio one."""
    if generator.openloop is not None:
        return await openloop.run(
            generator.openloop,
            port,
            gets(paths, headers),
            rate=rate,
            connections=connections,
            duration=duration,
            cpu=generator.cpu,
            workdir=generator.workdir,
        )
    return await loadgen(
        generator,
        port,
        gets(paths, headers),
        mode="rate",
        connections=connections,
        duration=duration,
        rate=rate,
    )
