"""``tenure serve --workers 2`` as a user runs it: JSON log lines with request ids, and
metrics that add up whichever worker process answers the scrape."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

from tenure.observability.metrics import FLUSH_INTERVAL
from tests.support.logscan import keep

TENURE = str(Path(sys.executable).with_name("tenure"))
REQUESTS = 24
KEY = "serve-test-key-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fresh() -> httpx.AsyncClient:  # a new connection per request: any worker may answer
    return httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)


async def test_two_http_processes_log_json_and_scrape_consistent_totals(tmp_path: Path) -> None:
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
        env={
            **os.environ,
            "TENURE_API_KEY": KEY,
            "TENURE_LOG_FORMAT": "json",
            "TENURE_EMBEDDED_WORKER": "false",
        },
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with _fresh() as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if (await client.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server never became ready"
                assert server.returncode is None
                await asyncio.sleep(0.2)
            # Both workers must be up before counting (readyz answered by one of them).
            await asyncio.sleep(1.0)
            for n in range(REQUESTS):
                response = await client.get(
                    f"{base}/v1/plans",
                    params={"market": "SE"},
                    headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": f"serve-{n}"},
                )
                assert response.status_code == 200
                assert response.headers["x-request-id"] == f"serve-{n}"
            # Each worker applies its batched counts once a second (observability/metrics.py):
            # a scrape answered by the other worker sees them at most that late.
            await asyncio.sleep(FLUSH_INTERVAL + 0.5)
            totals = set()
            for _ in range(8):
                scrape = await client.get(f"{base}/metrics")
                assert scrape.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
                found = re.search(
                    r'tenure_http_requests_total\{method="GET",route="/v1/plans",status="200"\} '
                    r"(\d+)\.0",
                    scrape.text,
                )
                assert found, scrape.text[:2000]
                totals.add(int(found.group(1)))
            assert totals == {REQUESTS}  # the same total from every scrape
    finally:
        server.send_signal(signal.SIGTERM)  # as an orchestrator does: to the main process
        try:
            out, err = await asyncio.wait_for(server.communicate(), timeout=30)
        except TimeoutError:
            os.killpg(server.pid, signal.SIGKILL)
            out, err = await server.communicate()
    output = err.decode() + out.decode()
    keep(output, "serve")
    records = []
    for line in err.decode().splitlines():
        try:
            records.append(json.loads(line))  # every line is one JSON object
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    access = [r for r in records if r.get("event") == "http.request"]
    assert {r["request_id"] for r in access} >= {f"serve-{n}" for n in range(REQUESTS)}
    assert all(
        {"timestamp", "level", "method", "route", "status", "duration_ms"} <= set(r) for r in access
    )
    loggers = {r.get("logger") for r in records}
    assert "_granian" in loggers  # Granian's own lines go through the same pipeline
    pids = {r["event"] for r in records if str(r.get("event", "")).startswith("Spawning worker")}
    assert len(pids) == 2
