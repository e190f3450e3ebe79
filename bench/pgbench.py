"""Baseline T: ``pgbench -b tpcb-like -M prepared`` on a throwaway database, same server."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bench.pg import Server, database_name, throwaway_database


@dataclass(frozen=True, slots=True)
class PgbenchResult:
    clients: int
    threads: int
    seconds: int
    scale: int
    tps: float
    latency_ms: float
    command: str


async def _pgbench(server: Server, arguments: Sequence[str], seconds: float) -> str:
    process = await asyncio.create_subprocess_exec(
        "pgbench",
        *arguments,
        env={**os.environ, **server.env()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=seconds)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(arguments)} failed:\n{text[-800:]}")
    return text


def parse_tps(output: str) -> tuple[float, float]:
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    if tps is None or latency is None:
        raise RuntimeError(f"unparsed pgbench output:\n{output[-800:]}")
    return float(tps[1]), float(latency[1])


async def tpcb_like(
    admin_url: str, *, clients: Sequence[int], seconds: int, scale: int = 10, threads: int = 2
) -> list[PgbenchResult]:
    """Initialize ``tenure_bench_<random>`` at ``scale``, run tpcb-like per client count, drop."""
    server = Server.parse(admin_url)
    results = []
    async with throwaway_database(admin_url) as url:
        name = database_name(url)
        await _pgbench(server, ["-i", "-q", "-s", str(scale), name], seconds=600)
        for count in clients:
            arguments = ["-b", "tpcb-like", "-M", "prepared", "-c", str(count)]
            arguments += ["-j", str(min(threads, count)), "-T", str(seconds), name]
            tps, latency = parse_tps(await _pgbench(server, arguments, seconds=seconds + 120))
            command = "pgbench " + " ".join(arguments[:-1]) + " tenure_bench_<random>"
            results.append(
                PgbenchResult(count, min(threads, count), seconds, scale, tps, latency, command)
            )
    return results
