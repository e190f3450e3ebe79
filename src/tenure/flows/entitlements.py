"""Reading entitlements: the projection (cached), with a from-scratch fallback for the rare
row that is missing (a customer created before the projection existed) or stale by time (a
grant whose end the worker has not processed yet)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.entitlements.read import View, render, stale
from tenure.flows import projection
from tenure.flows.runtime import Runtime


async def one(
    runtime: Runtime, *, customer_id: str | None = None, external_id: str | None = None
) -> View:
    view = await runtime.entitlements.one(customer_id=customer_id, external_id=external_id)
    if view is not None and (view.stale_age is not None or not stale(view, runtime.clock.now())):
        return view  # fresh, or the last known value while the database is unavailable
    async with runtime.db.read() as session:
        if customer_id is not None:
            customer = await customers.get(session, customer_id)
        else:
            customer = await customers.get_by_external_id(session, external_id or "")
        computed = await _compute(runtime, session, [customer])
    return (
        computed[customer.id] if view is None else _versioned(runtime, computed[customer.id], view)
    )


async def many(
    runtime: Runtime, *, by_external: bool, keys: Sequence[str]
) -> tuple[list[View], list[str]]:
    """Views in the order of ``keys`` (duplicates once) and the keys that match no customer."""
    unique = list(dict.fromkeys(keys))
    found = await runtime.entitlements.many(by_external=by_external, keys=unique)
    now = runtime.clock.now()
    redo = [
        key
        for key in unique
        if key not in found or (found[key].stale_age is None and stale(found[key], now))
    ]
    if redo:
        column = Customer.external_id if by_external else Customer.id
        async with runtime.db.read() as session:
            rows = list((await session.scalars(select(Customer).where(column.in_(redo)))).all())
            computed = await _compute(runtime, session, rows)
        for row in rows:
            key = row.external_id if by_external else row.id
            view = computed[row.id]
            found[key] = view if key not in found else _versioned(runtime, view, found[key])
    views = [found[key] for key in unique if key in found]
    return views, [key for key in unique if key not in found]


async def _compute(
    runtime: Runtime, session: AsyncSession, rows: Sequence[Customer]
) -> dict[str, View]:
    now = runtime.clock.now()
    live = [row.id for row in rows if row.test_clock_id is None]
    clocked = [row.id for row in rows if row.test_clock_id is not None]
    values = await projection.compute(session, runtime.catalog, live, now=now)
    values.update(await projection.compute(session, runtime.catalog, clocked))
    return {
        row.id: render(
            runtime.catalog,
            runtime.entitlements.tag,
            customer_id=row.id,
            external_id=row.external_id,
            test_clock_id=row.test_clock_id,
            value=values[row.id],
            version=0,
            exact=False,
        )
        for row in rows
    }


def _versioned(runtime: Runtime, computed: View, row: View) -> View:
    return render(
        runtime.catalog,
        runtime.entitlements.tag,
        customer_id=row.customer_id,
        external_id=row.external_id,
        test_clock_id=row.test_clock_id,
        value=computed.value,
        version=row.version,
        exact=False,
    )
