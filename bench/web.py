"""The HTTP scenarios: checkout, entitlement reads (rotating and hot users), baseline H."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import msgspec

from bench import profiling
from bench.checkout import (
    API_KEY,
    AUTH,
    Customers,
    checkout_requests,
    count_active,
    create_customers,
)
from bench.config import Config
from bench.console import log
from bench.drive import Generator, fixed_rate, loadgen, max_throughput
from bench.loadgen import LoadResult
from bench.machine import python_path
from bench.runtime import make_runtime, setup_database
from bench.seed import seed_customers
from bench.servers import (
    Running,
    free_port,
    rawapp_command,
    serving,
    tenure_command,
    tenure_env,
)
from tenure.migrations import upgrade


@dataclass(frozen=True, slots=True)
class ReadResult:
    endpoint: str  # the route template
    population: str  # "rotating" (cache miss) or "hot" (cache hit)
    users: int
    closed: LoadResult
    fixed: LoadResult
    cache_ttl: float | None  # the server's entitlement cache TTL; None: it has no cache
    at_h_rate: bool = False  # the fixed-rate run was at 80% of H's maximum (not its own)

    @property
    def revisit_seconds(self) -> float:
        """How long, on average, before the same user is read again at the maximum rate."""
        return self.users / self.closed.rps if self.closed.rps else float("inf")


def cache_ttl() -> float | None:
    """The TTL of Tenure's in-process entitlement cache, or None for a Tenure without one."""
    try:
        from tenure.entitlements.read import CACHE_TTL
    except ImportError:
        return None
    return float(CACHE_TTL)


@dataclass(slots=True)
class BackendResult:
    backend: str
    checkout: LoadResult
    subscribed: int  # active subscriptions found in the database afterwards
    reads: list[ReadResult] = field(default_factory=list)
    sample_body: bytes = b""
    profiles: list[profiling.Profile] = field(default_factory=list)


def make_generator(config: Config) -> Generator:
    generator = Generator(config.generator_cpu, config.workdir, config.use_wrk)
    return generator.with_openloop() if config.use_openloop else generator


Baseline = Callable[[bytes], Awaitable["RawResult"]]


def read_paths(customers: Customers, endpoint: str) -> list[str]:
    if endpoint.startswith("/v1/entitlements"):
        return [f"/v1/entitlements/{external_id}" for external_id in customers.external_ids]
    return [f"/v1/customers/{customer}/entitlements" for customer in customers.ids]


async def grow_for_misses(
    config: Config, database_url: str, population: Customers, ttl: float | None, rps: float
) -> Customers:
    """With a cache, a read is a miss only if the same user was not read within its TTL: add
    (Free) customers until a rotation at ``rps`` takes twice the TTL (up to a bound). They are
    inserted in bulk and projected by Tenure's own hook (see :func:`bench.seed.project`)."""
    if ttl is None:
        return population
    needed = min(math.ceil(rps * ttl * 2), config.max_read_population)
    if needed <= len(population.ids):
        return population
    runtime = make_runtime(database_url)
    try:
        tag = f"free{len(population.ids)}"
        now = datetime.now(UTC)
        ids, external_ids = await seed_customers(runtime, needed - len(population.ids), tag, now)
    finally:
        await runtime.db.dispose()
    return population + Customers(ids, external_ids)


async def measure_reads(
    config: Config,
    generator: Generator,
    port: int,
    paths: Sequence[str],
    *,
    rate: float | None = None,
) -> tuple[LoadResult, LoadResult]:
    """Closed loop for the maximum, then open loop at ``rate`` (default: ``load_fraction`` of
    that maximum) for latency.

    Each run carries on in the rotation where the previous one stopped, so a "miss" run never
    starts with the users the previous run has just read (they would still be cached).
    """
    order = list(paths)

    def rotate(result: LoadResult) -> None:
        cut = result.requests % len(order)
        order[:] = order[cut:] + order[:cut]

    if config.warmup_seconds > 0:
        rotate(
            await max_throughput(
                generator,
                port,
                order,
                AUTH,
                connections=config.connections,
                duration=config.warmup_seconds,
            )
        )
    closed = await max_throughput(
        generator, port, order, AUTH, connections=config.connections, duration=config.closed_seconds
    )
    rotate(closed)
    if rate is None:
        rate = max(1.0, closed.rps * config.load_fraction)
    fixed = await fixed_rate(
        generator,
        port,
        order,
        AUTH,
        rate=rate,
        connections=config.connections,
        duration=config.rate_seconds,
    )
    return closed, fixed


async def run_backend(
    config: Config,
    backend: str,
    database_url: str,
    *,
    profile: bool,
    baseline: Baseline | None = None,
) -> BackendResult:
    """Checkout then entitlement reads against ``tenure serve`` on ``database_url``.

    ``baseline`` measures H (given the entitlement body captured here) before the reads, so
    that cache hits are driven at 80% of H's maximum: the rate at which H's own p99 is taken.
    """
    generator = make_generator(config)
    database = setup_database(database_url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    customers = await create_customers(database_url, config.customers, backend)
    spare = await create_customers(database_url, config.customers // 2, f"{backend}-p")
    log(f"  {backend}: {len(customers.ids) + len(spare.ids)} customers created")
    port = free_port()
    server_log = config.workdir / f"tenure-{backend}.log"
    env = {**tenure_env(API_KEY), "PYTHONPATH": python_path()}
    async with serving(
        tenure_command(port, database_url),
        port=port,
        env=env,
        cpu=config.server_cpu,
        log=server_log,
    ) as server:
        checkout = await loadgen(
            generator,
            port,
            checkout_requests(customers.ids),
            mode="once",
            connections=config.checkout_connections,
            duration=60,
        )
        result = BackendResult(backend, checkout, await count_active(database_url))
        log(f"  {backend}: checkout {checkout.rps:,.0f}/s")
        async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH) as client:
            sample = await client.get(f"/v1/entitlements/{customers.external_ids[0]}")
            sample.raise_for_status()
            result.sample_body = sample.content
    h_rate = None
    if baseline is not None:
        # H on its core with Tenure stopped: with the server left up beside it (after the
        # checkouts), H measured a quarter of its rate alone (8,234 against 31,079 req/s).
        raw = await baseline(result.sample_body)
        h_rate = max(1.0, raw.closed.rps * config.load_fraction)
    port = free_port()
    async with serving(
        tenure_command(port, database_url),
        port=port,
        env=env,
        cpu=config.server_cpu,
        log=server_log,
    ) as server:
        ttl = cache_ttl()
        population = customers
        for endpoint in config.read_endpoints:
            hot = read_paths(customers, endpoint)[: config.hot_set]
            closed, fixed = await measure_reads(config, generator, port, hot, rate=h_rate)
            result.reads.append(
                ReadResult(endpoint, "hot", len(hot), closed, fixed, ttl, h_rate is not None)
            )
            log(f"  {backend}: {endpoint} hot {closed.rps:,.0f}/s")
            population = await grow_for_misses(config, database_url, population, ttl, closed.rps)
            rotating = read_paths(population, endpoint)
            closed, fixed = await measure_reads(config, generator, port, rotating)
            result.reads.append(ReadResult(endpoint, "rotating", len(rotating), closed, fixed, ttl))
            log(f"  {backend}: {endpoint} rotating over {len(rotating):,}: {closed.rps:,.0f}/s")
        if profile:
            endpoint = config.read_endpoints[0]
            reads = {
                "entitlement read, cache hit (hot set)": read_paths(customers, endpoint)[
                    : config.hot_set
                ],
                "entitlement read, cache miss (rotating)": read_paths(population, endpoint),
            }
            result.profiles = await _profile(config, generator, server, reads, spare)
    return result


async def _profile(
    config: Config,
    generator: Generator,
    server: Running,
    reads: dict[str, list[str]],
    spare: Customers,
) -> list[profiling.Profile]:
    """py-spy on the server while it answers each kind of read, then while it takes checkouts."""
    seconds = 5.0
    profiles = []
    for label, paths in reads.items():
        spy = asyncio.create_task(profiling.py_spy(label, server.pid, seconds, config.workdir))
        await max_throughput(
            generator,
            server.port,
            paths,
            AUTH,
            connections=config.connections,
            duration=seconds + 1,
        )
        profiles.append(await spy)
    spy = asyncio.create_task(profiling.py_spy("checkout", server.pid, seconds, config.workdir))
    await loadgen(
        generator,
        server.port,
        checkout_requests(spare.ids),
        mode="once",
        connections=config.checkout_connections,
        duration=seconds + 1,
    )
    profiles.append(await spy)
    return profiles


def synthetic_entitlement_body() -> bytes:
    """A premium entitlement response in the documented shape, for when no server ran (a real
    run captures the body from ``tenure serve`` instead)."""
    features = {
        "ad_free": True,
        "on_demand": True,
        "offline": True,
        "high_quality_audio": True,
        "audiobook_hours": 15,
    }
    body = {
        "object": "entitlements",
        "customer": "cus_" + "0" * 26,
        "external_id": "bench-postgres-000000",
        "product": "premium_individual",
        "status": "active",
        "source": "subscription",
        "subscription": "sub_" + "0" * 26,
        "household": None,
        "grant": None,
        "features": sorted(features),
        "feature_values": features,
        "valid_until": "2030-01-31T10:00:00Z",
        "billing_issue": False,
        "version": 3,
    }
    return msgspec.json.encode(body)


@dataclass(frozen=True, slots=True)
class RawResult:
    body_bytes: int
    closed: LoadResult
    fixed: LoadResult

    @property
    def held(self) -> bool:
        """The fixed-rate client held the scheduled rate against H (98% answered in time)
        without using up its own core (then it, not H, would have set the pace)."""
        fixed = self.fixed
        return fixed.held >= HOLD_SHARE and fixed.errors == 0 and fixed.client_cpu < CLIENT_BUSY


HOLD_SHARE = 0.98
CLIENT_BUSY = 0.95


async def run_raw(config: Config, body: bytes, users: int) -> RawResult:
    """Baseline H: the raw ASGI app with the same body size, same server, same pinning.

    Its fixed-rate run (80% of its maximum) is also the check that the fixed-rate client can
    hold that rate at all: :attr:`RawResult.held`.
    """
    generator = make_generator(config)
    port = free_port()
    template = msgspec.json.decode(body)
    paths = [f"/v1/entitlements/{template['external_id'][:-6]}{n:06d}" for n in range(users)]
    async with serving(
        rawapp_command(port),
        port=port,
        env={"BENCH_RAW_BODY": body.decode(), "PYTHONPATH": python_path()},
        cpu=config.server_cpu,
        log=config.workdir / "rawapp.log",
    ):
        closed, fixed = await measure_reads(config, generator, port, paths)
    return RawResult(len(body), closed, fixed)
