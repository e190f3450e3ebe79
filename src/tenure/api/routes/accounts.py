"""Test clocks, customers and their entitlements."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from tenure.api import views
from tenure.api.deps import RuntimeDep, check_id, page, page_limit, parse_time
from tenure.api.schemas import AdvanceTestClock, CreateCustomer, CreateTestClock
from tenure.billing import balance
from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.entitlements import service as entitlements
from tenure.flows import accounts, time_travel
from tenure.testclocks import service as testclocks


class TestClockController(Controller):
    path = "/v1/test_clocks"
    tags = ["test clocks"]

    @post("/", status_code=201, summary="Create a test clock")
    async def create(self, data: JSONBody[CreateTestClock], runtime: RuntimeDep) -> dict[str, Any]:
        frozen = parse_time(data.frozen_time, "frozen_time")
        clock = await accounts.create_test_clock(runtime, frozen_time=frozen, name=data.name)
        return views.test_clock(clock)

    @get("/{clock_id:str}", summary="Get a test clock")
    async def read(self, clock_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(clock_id, "clock", "test clock")
        async with runtime.db.read() as session:
            return views.test_clock(await testclocks.get(session, clock_id))

    @post("/{clock_id:str}/advance", status_code=200, summary="Advance a test clock")
    async def advance(
        self, clock_id: FromPath[str], data: JSONBody[AdvanceTestClock], runtime: RuntimeDep
    ) -> dict[str, Any]:
        """Runs all work due for the clock's customers up to ``frozen_time``, in order."""
        check_id(clock_id, "clock", "test clock")
        target = parse_time(data.frozen_time, "frozen_time")
        await time_travel.advance(runtime, clock_id=clock_id, to=target)
        async with runtime.db.read() as session:
            return views.test_clock(await testclocks.get(session, clock_id))


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["customers"]

    @post("/", status_code=201, summary="Create a customer")
    async def create(self, data: JSONBody[CreateCustomer], runtime: RuntimeDep) -> dict[str, Any]:
        if data.test_clock is not None:
            check_id(data.test_clock, "clock", "test clock")
            async with runtime.db.read() as session:
                await testclocks.get(session, data.test_clock)
        customer = await accounts.create_customer(
            runtime,
            external_id=data.external_id,
            email=data.email,
            market=data.market.upper(),
            test_clock_id=data.test_clock,
            region=data.region.upper() if data.region else None,
        )
        return views.customer(customer)

    @get("/", summary="List customers")
    async def list_(
        self,
        runtime: RuntimeDep,
        external_id: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        size = page_limit(limit)
        query = select(Customer).order_by(Customer.id).limit(size + 1)
        if external_id is not None:
            query = query.where(Customer.external_id == external_id)
        if starting_after is not None:
            query = query.where(Customer.id > starting_after)
        async with runtime.db.read() as session:
            rows = list((await session.scalars(query)).all())
        return page([views.customer(row) for row in rows], size)

    @get("/{customer_id:str}", summary="Get a customer")
    async def read(self, customer_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(customer_id, "cus", "customer")
        async with runtime.db.read() as session:
            customer = await customers.get(session, customer_id)
            ent = await entitlements.for_customer(session, runtime.catalog, customer_id)
            held = await balance.balances(session, [customer_id])
        body = views.customer(customer)
        body["billing_issue"] = ent.billing_issue
        currency = runtime.catalog.market(customer.market).currency
        body["balance"] = {"amount": held.get(customer_id, 0), "currency": currency}
        return body
