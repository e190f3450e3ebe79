"""The memory run: RSS of ``tenure serve`` while it reads N distinct customers.

N Free customers are bulk-inserted with COPY (and projected by Tenure's own hook, see
:func:`bench.seed.seed_customers`); ``tenure serve`` runs on PostgreSQL pinned like the HTTP
phases. After a warm-up (both single-read routes and the batch route, on a few customers) the
resident set of every process in the server's process group (Granian's parent and its worker)
is noted; then every customer is read once through ``POST /v1/entitlements/batch`` (500
external ids a call, the route's limit), in ten slices with the RSS noted after each; then a
rotation of single reads on both routes (``GET /v1/entitlements/{external_id}`` and
``GET /v1/customers/{id}/entitlements``) over customers not read for a while; RSS again.
Growth = RSS at the end - RSS after the warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from bench.checkout import API_KEY, AUTH, Customers
from bench.config import Config
from bench.console import log
from bench.drive import loadgen, max_throughput
from bench.loadgen import Request
from bench.machine import python_path
from bench.runtime import make_runtime, setup_database
from bench.seed import seed_customers
from bench.servers import free_port, serving, tenure_command, tenure_env
from bench.web import make_generator, read_paths
from tenure.migrations import upgrade

BATCH = 500
SLICES = 10
SINGLE_READS = 50_000  # customers in the single-read rotation, per route, at most


@dataclass(frozen=True, slots=True)
class MemoryResult:
    backend: str
    customers: int
    before_mb: float
    after_mb: float
    peak_mb: float
    curve_mb: list[float]  # RSS after each slice of the batch reads
    single_reads: int  # single GETs answered after the batch reads (both routes)
    errors: int
    processes: int
    seed_seconds: float
    method: str = field(
        default=f"`POST /v1/entitlements/batch`, {BATCH} external ids a call, then single reads "
        "on both GET routes"
    )

    @property
    def growth_mb(self) -> float:
        return self.after_mb - self.before_mb

    @property
    def complete(self) -> bool:
        return self.errors == 0

    def describe(self) -> str:
        curve = ", ".join(f"{value:,.0f}" for value in self.curve_mb)
        text = (
            f"RSS {self.before_mb:,.0f} -> {self.after_mb:,.0f} MB (+{self.growth_mb:,.0f} MB, "
            f"peak {self.peak_mb:,.0f} MB; {self.processes} server process(es) summed); after "
            f"each tenth of the batch reads: {curve} MB; then {self.single_reads:,} single reads"
        )
        if self.errors:
            text += f"; **{self.errors:,} failed requests**"
        return text + f" (seeded in {self.seed_seconds:.0f} s)"


def group_rss_mb(leader: int) -> tuple[float, int]:
    """Summed VmRSS (MB) of the processes in ``leader``'s process group, and how many."""
    total_kb, count = 0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgrp = int(stat.rsplit(")", 1)[1].split()[2])
            if pgrp != leader:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    count += 1
        except (OSError, ValueError, IndexError):
            continue
    return total_kb / 1024, count


def batch_requests(external_ids: list[str]) -> list[Request]:
    return [
        Request(
            "POST",
            "/v1/entitlements/batch",
            msgspec.json.encode({"external_ids": external_ids[start : start + BATCH]}).decode(),
            dict(AUTH),
        )
        for start in range(0, len(external_ids), BATCH)
    ]


async def _seed(url: str, count: int) -> Customers:
    database = setup_database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    runtime = make_runtime(url, setup=True)
    try:
        ids, external_ids = await seed_customers(runtime, count, "mem", datetime.now(UTC))
    finally:
        await runtime.db.dispose()
    return Customers(ids, external_ids)


async def run(config: Config, url: str, count: int) -> MemoryResult:
    started = datetime.now(UTC)
    customers = await _seed(url, count)
    seed_seconds = (datetime.now(UTC) - started).total_seconds()
    log(f"  memory: {count:,} customers seeded in {seed_seconds:.0f} s")
    generator = make_generator(config)
    port = free_port()
    async with serving(
        tenure_command(port, url),
        port=port,
        env={**tenure_env(API_KEY), "PYTHONPATH": python_path()},
        cpu=config.server_cpu,
        log=config.workdir / "tenure-memory.log",
    ) as server:
        warm = Customers(customers.ids[:50], customers.external_ids[:50])
        for endpoint in config.read_endpoints:
            await max_throughput(
                generator,
                port,
                read_paths(warm, endpoint),
                AUTH,
                connections=config.connections,
                duration=1.0,
            )
        errors = 0
        warm_batch = await loadgen(
            generator,
            port,
            batch_requests(warm.external_ids),
            mode="once",
            connections=1,
            duration=30,
        )
        errors += warm_batch.errors
        before, processes = group_rss_mb(server.pid)
        curve = []
        slice_size = -(-count // SLICES)
        for start in range(0, count, slice_size):
            part = customers.external_ids[start : start + slice_size]
            result = await loadgen(
                generator,
                port,
                batch_requests(part),
                mode="once",
                connections=config.checkout_connections,
                duration=600,
            )
            errors += result.errors + (-(-len(part) // BATCH) - result.requests)
            curve.append(group_rss_mb(server.pid)[0])
        errors += await _check_batch(server.base_url, customers.external_ids[-BATCH:])
        single = 0
        rotation = Customers(customers.ids[:SINGLE_READS], customers.external_ids[:SINGLE_READS])
        for endpoint in config.read_endpoints:
            read = await max_throughput(
                generator,
                port,
                read_paths(rotation, endpoint),
                AUTH,
                connections=config.connections,
                duration=config.closed_seconds,
            )
            single += read.requests
            errors += read.errors
        after, processes = group_rss_mb(server.pid)
    return MemoryResult(
        "postgres",
        count,
        before,
        after,
        max([before, after, *curve]),
        curve,
        single,
        errors,
        processes,
        seed_seconds,
    )


async def _check_batch(base_url: str, external_ids: list[str]) -> int:
    """One batch read checked for content: every id answered, none missing."""
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=30) as client:
        answer = await client.post("/v1/entitlements/batch", json={"external_ids": external_ids})
    if answer.status_code != 200:
        return 1
    body = answer.json()
    return 0 if len(body["data"]) == len(external_ids) and not body["missing"] else 1
