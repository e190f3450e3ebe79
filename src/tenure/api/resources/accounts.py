"""Test clocks and customers."""

from __future__ import annotations

from typing import Literal

from tenure.api.resources.base import Money, Resource, at, extend, metadata_of
from tenure.customers.models import Customer as CustomerRow
from tenure.testclocks.models import TestClock as TestClockRow


class TestClock(Resource):
    __test__ = False  # not a pytest class, whatever its name

    id: str
    object: Literal["test_clock"]
    name: str | None
    frozen_time: str
    status: str  # ready | advancing
    created: str  # wall time, unlike everything on the clock


class Customer(Resource):
    id: str
    object: Literal["customer"]
    external_id: str
    email: str
    market: str
    region: str | None
    test_clock: str | None
    created: str
    metadata: dict[str, str]
    billing_day: int | None  # the day of the month new subscriptions bill on; null: their start


class CustomerDetail(Customer):
    """A customer as ``GET /v1/customers/{id}`` shows it: with billing state and balance."""

    billing_issue: bool
    balance: Money  # credit held for the next invoices


class CustomerList(Resource):
    object: Literal["list"]
    data: list[Customer]
    has_more: bool
    next: str | None


def test_clock_of(clock: TestClockRow) -> TestClock:
    return TestClock(
        id=clock.id,
        object="test_clock",
        name=clock.name,
        frozen_time=at(clock.frozen_time),
        status=clock.status,
        created=at(clock.created_at),
    )


def customer_of(row: CustomerRow) -> Customer:
    return Customer(
        id=row.id,
        object="customer",
        external_id=row.external_id,
        email=row.email,
        market=row.market,
        region=row.region,
        test_clock=row.test_clock_id,
        created=at(row.created_at),
        metadata=metadata_of(row),
        billing_day=row.billing_day,
    )


def customer_detail_of(row: CustomerRow, *, billing_issue: bool, balance: Money) -> CustomerDetail:
    return extend(customer_of(row), CustomerDetail, billing_issue=billing_issue, balance=balance)
