"""Checkout traffic: fresh customers (made through the flow, untimed) and their POSTs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy import text

from bench.loadgen import Request
from bench.profiling import Profile, add_sql, sql_timer
from bench.runtime import make_runtime, setup_database
from bench.seed import PAYMENT_METHOD, PLAN
from tenure.flows import accounts
from tenure.flows.subscribe import subscribe

API_KEY = "bench_" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@dataclass(frozen=True, slots=True)
class Customers:
    ids: list[str]
    external_ids: list[str]

    def __add__(self, other: Customers) -> Customers:
        return Customers(self.ids + other.ids, self.external_ids + other.external_ids)


async def create_customers(
    database_url: str, count: int, tag: str, *, concurrency: int = 8
) -> Customers:
    """New customers through the flow (untimed), a few at once; each starts on Free.

    On SQLite one at a time: its single writer gains nothing from more, and on a loaded
    machine queued writers could outwait the busy timeout ("database is locked")."""
    runtime = make_runtime(database_url)
    gate = asyncio.Semaphore(concurrency if runtime.db.is_postgres else 1)
    external_ids = [f"bench-{tag}-{number:06d}" for number in range(count)]

    async def create(external_id: str) -> str:
        async with gate:
            customer = await accounts.create_customer(
                runtime,
                external_id=external_id,
                email=f"{external_id}@bench.example",
                market="SE",
                test_clock_id=None,
            )
            return customer.id

    try:
        ids = await asyncio.gather(*(create(external_id) for external_id in external_ids))
    finally:
        await runtime.db.dispose()
    return Customers(list(ids), external_ids)


def checkout_requests(customer_ids: Sequence[str]) -> list[Request]:
    """POST /v1/subscriptions for each customer, each with its own Idempotency-Key."""
    return [
        Request(
            "POST",
            "/v1/subscriptions",
            msgspec.json.encode(
                {"customer": customer, "plan": PLAN, "payment_method": PAYMENT_METHOD}
            ).decode(),
            {**AUTH, "Idempotency-Key": idempotency_key()},
        )
        for customer in customer_ids
    ]


def idempotency_key() -> str:
    """A fresh key with no digits: a hex uuid holds a Luhn-valid run of 13-19 digits about once
    in 500 keys, and Tenure refuses card numbers in an ``Idempotency-Key`` (422)."""
    return "bench-" + uuid.uuid4().hex.translate(_LETTERS)


_LETTERS = str.maketrans("0123456789", "ghijklmnop")


async def count_active(database_url: str) -> int:
    database = setup_database(database_url)
    try:
        async with database.read() as session:
            query = text("SELECT count(*) FROM subscriptions WHERE status = 'active'")
            return int((await session.execute(query)).scalar_one())
    finally:
        await database.dispose()


async def profile_flow(database_url: str, count: int, *, concurrency: int) -> Profile:
    """``count`` subscribes through the flow in this process (no HTTP, no idempotency gate),
    ``concurrency`` at a time, with every SQL statement timed and every commit counted."""
    customers = await create_customers(database_url, count, "profile")
    runtime = make_runtime(database_url)
    gate = asyncio.Semaphore(concurrency)

    async def one(customer_id: str) -> None:
        async with gate:
            await subscribe(
                runtime,
                customer_id=customer_id,
                plan_id=PLAN,
                payment_method=PAYMENT_METHOD,
                trial=False,
                actor="bench",
            )

    try:
        with sql_timer(runtime.db.engine) as totals:
            started = time.perf_counter()
            await asyncio.gather(*(one(customer) for customer in customers.ids))
            wall = time.perf_counter() - started
    finally:
        await runtime.db.dispose()
    profile = Profile(f"checkout flow in process ({concurrency} at once, no HTTP)")
    add_sql(profile, totals, wall=wall, items=count)
    return profile
