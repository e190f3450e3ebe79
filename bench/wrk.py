"""Closed-loop maximum throughput with ``wrk`` (when installed), parsed into a LoadResult."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.loadgen import LoadResult
from bench.servers import HOST, pinned

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def ensure_installed() -> bool:
    """wrk if present; otherwise try ``apt-get install -y wrk`` (as root), updating lists once."""
    if available():
        return True
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    for command in (
        ["install", "-y", "-q", "wrk"],
        ["update", "-q"],
        ["install", "-y", "-q", "wrk"],
    ):
        if available():
            break
        subprocess.run(
            ["apt-get", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=300,
        )
    return available()


def lua_script(paths: Sequence[str], headers: Mapping[str, str]) -> str:
    """Cycle through ``paths`` (one wrk thread, so one Lua state and one counter)."""
    quoted = ",\n".join(f'  "{path}"' for path in paths)
    header_lines = "\n".join(f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items())
    return f"""{header_lines}
local paths = {{
{quoted}
}}
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
"""


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unparsed wrk duration {value!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse(output: str, duration: float) -> LoadResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket_errors:
        errors += sum(int(group) for group in socket_errors.groups())
    maximum = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output)
    return LoadResult(
        mode="closed",
        requests=total,
        errors=errors,
        seconds=duration,
        rps=rps * (total - errors) / total if total else 0.0,
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        p999_ms=0.0,
        max_ms=_ms(maximum[1]) if maximum else 0.0,
    )


async def run(
    port: int,
    paths: Sequence[str],
    headers: Mapping[str, str],
    *,
    connections: int,
    duration: float,
    cpu: str | None,
    workdir: Path,
) -> LoadResult:
    script = workdir / "paths.lua"
    script.write_text(lua_script(paths, headers))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
    command += ["-s", str(script), f"http://{HOST}:{port}"]
    process = await asyncio.create_subprocess_exec(
        *pinned(command, cpu), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=duration + 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {text[-500:]}")
    return parse(text, duration)
