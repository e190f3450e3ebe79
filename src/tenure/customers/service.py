"""Customers: create and read."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.customers.models import Customer
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.events.record import event_row, record
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound
from tenure.kernel.ids import new_id
from tenure.kernel.metadata import check as check_metadata
from tenure.kernel.metadata import merge as merge_metadata

# Deliberately loose: the client's identity system owns addresses; this only catches garbage.
_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class CustomerNotFound(NotFound):
    code = "customer_not_found"


def payload(customer: Customer) -> dict[str, Any]:
    return {
        "customer": customer.id,
        "external_id": customer.external_id,
        "email": customer.email,
        "market": customer.market,
        "region": customer.region,
        "test_clock": customer.test_clock_id,
        "created": rfc3339(customer.created_at),
        "metadata": dict(customer.metadata_ or {}),
        "billing_day": customer.billing_day,
    }


async def create(
    session: AsyncSession,
    *,
    external_id: str,
    email: str,
    market: str,
    test_clock_id: str | None,
    created_at: datetime,
    region: str | None = None,
    metadata: dict[str, str] | None = None,
    billing_day: int | None = None,
) -> Customer:
    _check_email(email)
    _check_billing_day(billing_day)
    if not external_id.strip():
        raise InvalidRequest("external_id must not be empty", code="invalid_external_id")
    existing = await session.scalar(select(Customer.id).where(Customer.external_id == external_id))
    if existing is not None:
        raise Conflict(
            f"a customer with external_id {external_id!r} exists already: {existing}",
            code="customer_exists",
            customer=existing,
        )
    customer = Customer(
        id=new_id("cus"),
        external_id=external_id,
        email=email,
        market=market,
        region=region,
        test_clock_id=test_clock_id,
        created_at=created_at,
        metadata_=check_metadata(metadata or {}),
        billing_day=billing_day,
    )
    session.add(customer)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            f"a customer with external_id {external_id!r} exists already", code="customer_exists"
        ) from None
    await record(
        session,
        [
            event_row(
                "customer.created",
                created=created_at,
                data=payload(customer),
                customer_id=customer.id,
            )
        ],
    )
    return customer


def _check_billing_day(day: int | None) -> None:
    if day is not None and not 1 <= day <= 31:
        raise InvalidRequest(
            f"billing_day must be a day of the month between 1 and 31, not {day}",
            code="invalid_billing_day",
        )


def _check_email(email: str) -> None:
    if not _EMAIL.match(email):
        raise InvalidRequest(f"{email!r} is not an email address", code="invalid_email")


async def update(
    session: AsyncSession,
    customer: Customer,
    *,
    email: str | None,
    metadata: dict[str, str] | None,
    at: datetime,
    billing_day: int | None = None,
) -> Customer:
    """Change the email and merge metadata (a key set to "" is removed); ``customer.updated``
    when something changed. ``billing_day`` 1-31 sets the day new subscriptions are billed on,
    0 clears it; subscriptions that exist keep their anchor."""
    changed: list[str] = []
    if billing_day is not None:
        _check_billing_day(billing_day or None)
        if (billing_day or None) != customer.billing_day:
            customer.billing_day = billing_day or None
            changed.append("billing_day")
    if email is not None and email != customer.email:
        _check_email(email)
        customer.email = email
        changed.append("email")
    if metadata is not None:
        merged = merge_metadata(customer.metadata_ or {}, metadata)
        if merged != (customer.metadata_ or {}):
            customer.metadata_ = merged
            changed.append("metadata")
    if changed:
        await session.flush()
        await record(
            session,
            [
                event_row(
                    "customer.updated",
                    created=at,
                    data={**payload(customer), "changed": changed},
                    customer_id=customer.id,
                )
            ],
        )
    return customer


async def get(session: AsyncSession, customer_id: str, *, for_update: bool = False) -> Customer:
    statement = select(Customer).where(Customer.id == customer_id)
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    customer = await session.scalar(statement)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id!r}")
    return customer


# The mapped attributes and their columns (``metadata_`` is the column ``metadata``).
_ATTRIBUTES: Final = tuple((a.key, a.columns[0].name) for a in inspect(Customer).column_attrs)
_customers = table_of(Customer)


async def locked(session: AsyncSession, customer_id: str) -> Customer:
    """:func:`get` ``for_update``, read with one Core statement instead of an ORM query: a
    copy outside the session, to read from (a flow that changes the customer uses :func:`get`)."""
    statement = select(_customers).where(_customers.c.id == customer_id)
    if is_postgres(session):
        statement = statement.with_for_update()
    row = (await session.execute(statement)).mappings().first()
    if row is None:
        raise CustomerNotFound(f"no customer {customer_id!r}")
    return Customer(**{key: row[name] for key, name in _ATTRIBUTES})


async def get_by_external_id(session: AsyncSession, external_id: str) -> Customer:
    customer = await session.scalar(select(Customer).where(Customer.external_id == external_id))
    if customer is None:
        raise CustomerNotFound(f"no customer with external_id {external_id!r}")
    return customer
