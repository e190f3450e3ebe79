"""Test clocks, customers and their entitlements."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from tenure.api.deps import RuntimeDep, check_id, page, page_limit, parse_time
from tenure.api.openapi import problems
from tenure.api.resources.accounts import (
    Customer,
    CustomerDetail,
    CustomerList,
    TestClock,
    customer_detail_of,
    customer_of,
    test_clock_of,
)
from tenure.api.resources.base import Money
from tenure.api.schemas import AdvanceTestClock, CreateTestClock, UpdateCustomer
from tenure.api.schemas import CreateCustomer as CreateCustomerBody
from tenure.billing import balance
from tenure.customers import service as customers
from tenure.customers.models import Customer as CustomerRow
from tenure.entitlements import service as entitlements
from tenure.flows import accounts, time_travel
from tenure.flows.runtime import Runtime
from tenure.testclocks import service as testclocks


class TestClockController(Controller):
    path = "/v1/test_clocks"
    tags = ["test clocks"]

    @post("/", status_code=201, summary="Create a test clock")
    async def create(self, data: JSONBody[CreateTestClock], runtime: RuntimeDep) -> TestClock:
        frozen = parse_time(data.frozen_time, "frozen_time")
        clock = await accounts.create_test_clock(runtime, frozen_time=frozen, name=data.name)
        return test_clock_of(clock)

    @get("/{clock_id:str}", summary="Get a test clock", responses=problems(404))
    async def read(self, clock_id: FromPath[str], runtime: RuntimeDep) -> TestClock:
        check_id(clock_id, "clock", "test clock")
        async with runtime.db.read() as session:
            return test_clock_of(await testclocks.get(session, clock_id))

    @post(
        "/{clock_id:str}/advance",
        status_code=200,
        summary="Advance a test clock",
        responses=problems(
            (404, "test_clock_not_found"),
            (409, "test_clock_advancing test_clock_runaway"),
            (422, "test_clock_backwards invalid_timestamp"),
        ),
    )
    async def advance(
        self, clock_id: FromPath[str], data: JSONBody[AdvanceTestClock], runtime: RuntimeDep
    ) -> TestClock:
        """Runs all work due for the clock's customers up to ``frozen_time``, in order."""
        check_id(clock_id, "clock", "test clock")
        target = parse_time(data.frozen_time, "frozen_time")
        await time_travel.advance(runtime, clock_id=clock_id, to=target)
        async with runtime.db.read() as session:
            return test_clock_of(await testclocks.get(session, clock_id))


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["customers"]

    @post(
        "/",
        status_code=201,
        summary="Create a customer",
        responses=problems(
            (404, "test_clock_not_found"),
            (409, "customer_exists"),
            (422, "invalid_email invalid_external_id unknown_market invalid_billing_day"),
        ),
    )
    async def create(self, data: JSONBody[CreateCustomerBody], runtime: RuntimeDep) -> Customer:
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
            metadata=data.metadata,
            billing_day=data.billing_day,
        )
        return customer_of(customer)

    @get("/", summary="List customers", responses=problems((422, "invalid_limit")))
    async def list_(
        self,
        runtime: RuntimeDep,
        external_id: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> CustomerList:
        size = page_limit(limit)
        query = select(CustomerRow).order_by(CustomerRow.id).limit(size + 1)
        if external_id is not None:
            query = query.where(CustomerRow.external_id == external_id)
        if starting_after is not None:
            query = query.where(CustomerRow.id > starting_after)
        async with runtime.db.read() as session:
            rows = list((await session.scalars(query)).all())
        data, has_more, after = page([customer_of(row) for row in rows], size)
        return CustomerList(object="list", data=data, has_more=has_more, next=after)

    @post(
        "/{customer_id:str}",
        status_code=200,
        summary="Update a customer's email or metadata",
        responses=problems(
            (404, "customer_not_found"),
            (422, "invalid_email invalid_metadata invalid_billing_day"),
        ),
    )
    async def update(
        self, customer_id: FromPath[str], data: JSONBody[UpdateCustomer], runtime: RuntimeDep
    ) -> CustomerDetail:
        """``metadata`` is merged into what is stored; a key set to "" is removed."""
        check_id(customer_id, "cus", "customer")
        await accounts.update_customer(
            runtime,
            customer_id=customer_id,
            email=data.email,
            metadata=data.metadata,
            billing_day=data.billing_day,
        )
        return await self._detail(runtime, customer_id)

    @get(
        "/{customer_id:str}",
        summary="Get a customer, with billing issue and credit balance",
        responses=problems((404, "customer_not_found")),
    )
    async def read(self, customer_id: FromPath[str], runtime: RuntimeDep) -> CustomerDetail:
        check_id(customer_id, "cus", "customer")
        return await self._detail(runtime, customer_id)

    @staticmethod
    async def _detail(runtime: Runtime, customer_id: str) -> CustomerDetail:
        async with runtime.db.read() as session:
            customer = await customers.get(session, customer_id)
            ent = await entitlements.for_customer(session, runtime.catalog, customer_id)
            held = await balance.balances(session, [customer_id])
        currency = runtime.catalog.market(customer.market).currency
        return customer_detail_of(
            customer,
            billing_issue=ent.billing_issue,
            balance=Money(amount=held.get(customer_id, 0), currency=currency),
        )
