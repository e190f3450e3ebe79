"""The outbox measurement: a renewal run's events sequenced and delivered to one webhook.

Seeded like the renewal run (null provider); then one webhook endpoint for every event type
is registered through Tenure's own ``webhooks.service.create``, pointing at ``bench.sink``
(a receiver that notes each event's arrival time), and the relay's cursor is put at the head
of the outbox, as a relay that had been running all along would have left it (so only the
run's own events go out, not the seeding's). One ``tenure relay`` process (the command a
deployment runs; ``TENURE_WEBHOOKS_ALLOW_PRIVATE=true`` for the loopback receiver) runs while
the renewal workers drain, and until every event is delivered or the budget runs out.

Reported: events delivered per second (first event recorded -> last one received) against
the renewal rate of the same run, and the lag from each event's ``recorded_at`` to its arrival
(p50, p99, max), computed in PostgreSQL after the arrivals are copied in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.console import log
from bench.machine import ROOT, python_path
from bench.renewal import RenewalResult, drain, prepare, verify
from bench.runtime import make_runtime
from bench.servers import HOST, free_port, stop_group
from tenure.webhooks import service
from tenure.webhooks.models import KIND

Popen = asyncio.subprocess.Process


@dataclass(frozen=True, slots=True)
class OutboxResult:
    renewal: RenewalResult
    events: int  # events recorded by the run (after the cursor's start)
    delivered: int  # distinct events received by the sink
    duplicates: int  # arrivals beyond one per event (at-least-once delivery may repeat)
    seconds: float  # first run event recorded -> last arrival
    lag_p50_s: float
    lag_p99_s: float
    lag_max_s: float
    stopped_at_budget: bool

    @property
    def delivered_rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.delivered == self.events and not self.stopped_at_budget

    def correctness(self) -> str:
        """The run's renewals as checked, and whether every event arrived (and how often)."""
        arrived = (
            f"every one of its {self.events:,} events delivered"
            if self.delivered == self.events
            else f"**{self.events - self.delivered:,} of its {self.events:,} events not delivered**"
        )
        repeated = f", {self.duplicates:,} of them more than once" if self.duplicates else ", once"
        return f"{self.renewal.verification.describe()}; {arrived}{repeated}"

    def describe(self) -> str:
        recorded = self.events / self.renewal.seconds if self.renewal.seconds > 0 else 0.0
        text = (
            f"{self.delivered_rate:,.0f} events/s delivered, against {recorded:,.0f}/s recorded "
            f"while the renewals ran ({self.delivered:,} of "
            f"{self.events:,} events, {self.events / max(1, self.renewal.count):.1f} per renewal, "
            f"in {self.seconds:,.1f} s); lag recorded -> received p50 {self.lag_p50_s:.2f} / "
            f"p99 {self.lag_p99_s:.2f} / max {self.lag_max_s:.2f} s; renewals in this run "
            f"{self.renewal.rate:,.0f}/s"
        )
        if self.duplicates:
            text += f"; {self.duplicates:,} repeated deliveries"
        if self.stopped_at_budget:
            text += "; **stopped at the delivery budget**"
        return text


def _plain(url: str) -> str:
    """The URL as asyncpg takes it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _register(url: str, sink_url: str) -> int:
    """The endpoint (every event type), and the relay cursor at the outbox's head."""
    runtime = make_runtime(url, "null", setup=True)
    try:
        async with runtime.db.transaction() as session:
            await service.create(
                session,
                url=sink_url,
                event_types=[service.ALL],
                description="bench sink",
                now=datetime.now(UTC),
                allow_private=True,
            )
    finally:
        await runtime.db.dispose()
    connection = await asyncpg.connect(_plain(url))
    try:
        head = int(
            await connection.fetchval("SELECT coalesce(max(position), 0) FROM outbox_events")
        )
        await connection.execute(
            "INSERT INTO relay_cursors (name, position) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            KIND,
            head,
        )
    finally:
        await connection.close()
    return head


async def _start(command: list[str], env: dict[str, str], log: Path, ready: bytes) -> Popen:
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": python_path(), **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=output,
            start_new_session=True,
        )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    except TimeoutError:
        line = b""
    if ready not in line:
        await stop_group(process)
        raise RuntimeError(f"{command[1:3]} did not start ({line!r}); see {log}")
    return process


async def _relay(url: str, log: Path) -> Popen:
    """``tenure relay`` as deployed; its log goes to ``log``."""
    tenure = str(Path(sys.executable).with_name("tenure"))
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            tenure,
            "relay",
            "--database-url",
            url,
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": python_path(),
                "TENURE_WEBHOOKS_ALLOW_PRIVATE": "true",
            },
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )


async def _started(log_path: Path, budget: float = 120.0) -> None:
    """Wait for the relay's ``relay.started`` line, so the run measures delivery, not imports."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            if b"relay.started" in await asyncio.to_thread(log_path.read_bytes):
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"tenure relay did not start within {budget:.0f} s; see {log_path}")


async def _pending(connection: asyncpg.Connection, head: int) -> int:
    """Events of the run not yet delivered (unsequenced, not fanned out, or not sent)."""
    row = await connection.fetchrow(
        "SELECT (SELECT count(*) FROM outbox_events WHERE position IS NULL) AS unsequenced, "
        "(SELECT count(*) FROM outbox_events WHERE position > $1) AS events, "
        "(SELECT count(*) FROM event_deliveries WHERE status = 'delivered') AS delivered",
        head,
    )
    assert row is not None
    return int(row["unsequenced"]) + int(row["events"]) - int(row["delivered"])


async def _wait_delivered(url: str, head: int, budget: float) -> bool:
    """Wait until every event of the run is delivered; False when the budget ran out."""
    connection = await asyncpg.connect(_plain(url))
    deadline = time.monotonic() + budget
    try:
        while time.monotonic() < deadline:
            if await _pending(connection, head) == 0:
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await connection.close()


async def _measure(
    url: str, head: int, arrivals: Path
) -> tuple[int, int, int, float, tuple[float, ...]]:
    """events, delivered, duplicates, seconds, (lag p50, p99, max) from the sink's notes."""
    records = []
    notes = await asyncio.to_thread(arrivals.read_text)
    for line in notes.splitlines():
        event_id, _, at = line.partition("\t")
        records.append((event_id, datetime.fromtimestamp(float(at), UTC)))
    connection = await asyncpg.connect(_plain(url))
    try:
        await connection.execute(
            "CREATE TEMP TABLE bench_arrivals (event_id text, received timestamptz)"
        )
        await connection.copy_records_to_table("bench_arrivals", records=records)
        row = await connection.fetchrow(
            """
            WITH firsts AS (
                SELECT event_id, min(received) AS received, count(*) AS times
                FROM bench_arrivals GROUP BY event_id
            ), run AS (
                SELECT e.recorded_at, f.received, f.times
                FROM outbox_events e LEFT JOIN firsts f ON f.event_id = e.id
                WHERE e.position > $1
            )
            SELECT count(*) AS events,
                   count(received) AS delivered,
                   coalesce(sum(times - 1), 0) AS duplicates,
                   extract(epoch FROM max(received) - min(recorded_at)) AS seconds,
                   percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP
                       (ORDER BY extract(epoch FROM received - recorded_at)) AS lags,
                   extract(epoch FROM max(received - recorded_at)) AS lag_max
            FROM run
            """,
            head,
        )
    finally:
        await connection.close()
    assert row is not None
    lags = list(row["lags"] or [0.0, 0.0])
    return (
        int(row["events"]),
        int(row["delivered"]),
        int(row["duplicates"]),
        float(row["seconds"] or 0.0),
        (float(lags[0]), float(lags[1]), float(row["lag_max"] or 0.0)),
    )


async def run(url: str, count: int, *, workers: int, budget: float, workdir: Path) -> OutboxResult:
    """Seed ``count`` due subscriptions and drain them with the relay delivering to a sink."""
    plan, seed_seconds = await prepare(url, count, datetime.now(UTC))
    port = free_port()
    head = await _register(url, f"http://{HOST}:{port}/hook")
    arrivals = workdir / "sink-arrivals.tsv"
    sink = await _start(
        [sys.executable, "-m", "bench.sink", str(port), str(arrivals)],
        {},
        workdir / "sink.log",
        b"ready",
    )
    relay: Popen | None = None
    try:
        relay = await _relay(url, workdir / "relay.log")
        await _started(workdir / "relay.log")  # its start-up is not delivery lag
        seconds, stopped = await drain(url, "null", workers=workers, budget=budget)
        log(f"  outbox: renewals drained in {seconds:.1f} s; waiting for the deliveries")
        delivered_all = await _wait_delivered(url, head, budget)
    finally:
        if relay is not None:
            await stop_group(relay)
        await stop_group(sink)  # SIGTERM: it writes its last notes
    verification = await verify(url, plan)
    renewal = RenewalResult("null", count, workers, seconds, seed_seconds, verification, stopped)
    events, delivered, duplicates, window, (p50, p99, worst) = await _measure(url, head, arrivals)
    return OutboxResult(
        renewal, events, delivered, duplicates, window, p50, p99, worst, not delivered_all
    )
