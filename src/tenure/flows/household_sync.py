"""Households follow their manager's subscription: an explicit step of the unit of work.

Every flow that changes subscriptions flushes through :class:`tenure.flows.unit.UnitOfWork`,
which calls :func:`follow` with the customers whose subscriptions it saved: a Duo/Family
subscription that has started owns one household; a plan with fewer accounts removes the latest
members; a subscription that ended (or moved to a plan without a household) ends its household.
Seat changes touch the members, so the entitlement projection recomputes them at COMMIT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.catalog.model import Catalog
from tenure.db.base import table_of
from tenure.flows.runtime import Runtime
from tenure.households import service as households
from tenure.households.records import HouseholdRecord, Seat
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import LIVE_STATUSES, Status

_subs = table_of(Subscription)
# A subscription owns a household once it has started: live, and past the first payment.
OWNS_HOUSEHOLD: Final = frozenset(
    s for s in LIVE_STATUSES if s not in (Status.INCOMPLETE, Status.SCHEDULED)
)
_OWNS_HOUSEHOLD: Final = sorted(s.value for s in OWNS_HOUSEHOLD)


async def follow(
    runtime: Runtime, session: AsyncSession, customer_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Reconcile the households of these customers with their subscriptions; returns the
    household events to record."""
    ids = set(customer_ids)
    if not ids:
        return []
    events: list[dict[str, Any]] = []
    await _reconcile(runtime, session, ids, events)
    return events


async def _reconcile(
    runtime: Runtime, session: AsyncSession, customer_ids: set[str], events: list[dict[str, Any]]
) -> None:
    catalog = runtime.catalog
    rows = await session.execute(
        select(_subs.c.id, _subs.c.customer_id, _subs.c.product_id, _subs.c.test_clock_id)
        .where(_subs.c.customer_id.in_(sorted(customer_ids)), _subs.c.status.in_(_OWNS_HOUSEHOLD))
        .order_by(_subs.c.customer_id, _subs.c.id)
    )
    live: dict[str, list[Any]] = defaultdict(list)
    for row in rows:  # a customer may hold a web and a store subscription at once
        live[row.customer_id].append(row)
    managed = {
        h.manager_customer_id: h
        for h in await households.active_managed_by(session, sorted(customer_ids))
    }
    owning = {
        cid: row
        for cid, found in live.items()
        if (row := _owner(catalog, found, managed.get(cid))) is not None
    }
    if not owning and not managed:
        return
    clocks = {row.test_clock_id for row in owning.values()} | {
        h.test_clock_id for h in managed.values()
    }
    times = await runtime.times_for(session, clocks | {None})
    seats_of: dict[str, list[Seat]] = defaultdict(list)
    for seat in await households.seats(session, [h.id for h in managed.values()]):
        seats_of[seat.household_id].append(seat)
    for customer_id in sorted(set(owning) | set(managed)):
        sub, household = owning.get(customer_id), managed.get(customer_id)
        if household is not None and (sub is None or household.subscription_id != sub.id):
            at = times[household.test_clock_id]
            still = {row.id for row in live.get(customer_id, [])}
            why = "plan_change" if household.subscription_id in still else "ended"
            await _end(session, household, seats_of[household.id], why, at=at, events=events)
            household = None
        if sub is None:
            continue
        product = catalog.products[sub.product_id]
        at = times[sub.test_clock_id]
        if household is None:
            await _create(session, sub, product.accounts, at=at, events=events)
        elif household.product_id != product.id or household.seats_limit != product.accounts:
            await households.resize(
                session, household.id, product_id=product.id, seats_limit=product.accounts
            )
            # The latest members go first when the new plan has fewer accounts.
            excess = [s for s in seats_of[household.id] if s.role == households.MEMBER]
            excess = excess[max(product.accounts - 1, 0) :]
            await households.release(session, excess, reason="plan_change", at=at)
            events += [
                households.event(
                    "household.member_removed",
                    household,
                    at=at,
                    customer_id=seat.customer_id,
                    reason="plan_change",
                )
                for seat in excess
            ]


def _owner(catalog: Catalog, rows: Sequence[Any], household: HouseholdRecord | None) -> Any:
    """Which of a customer's live subscriptions owns their household: the one that already
    does while it still has seats, else the one with the most accounts (then the oldest)."""
    seated = [
        row
        for row in rows
        if row.product_id in catalog.products and catalog.products[row.product_id].accounts > 1
    ]
    for row in seated:
        if household is not None and row.id == household.subscription_id:
            return row
    ranked = sorted(seated, key=lambda row: (-catalog.products[row.product_id].accounts, row.id))
    return ranked[0] if ranked else None


async def _end(
    session: AsyncSession,
    household: HouseholdRecord,
    seats: Sequence[Seat],
    why: str,
    *,
    at: datetime,
    events: list[dict[str, Any]],
) -> None:
    """``why``: "ended" (the subscription ended) or "plan_change" (no household on the new
    plan)."""
    reason = "plan_change" if why == "plan_change" else "household_ended"
    await households.release(session, seats, reason=reason, at=at)
    ended = "plan_change" if why == "plan_change" else "subscription_ended"
    await households.end(session, household, reason=ended, at=at)
    for seat in seats:
        if seat.role == households.MEMBER:
            events.append(
                households.event(
                    "household.member_removed",
                    household,
                    at=at,
                    customer_id=seat.customer_id,
                    reason=reason,
                )
            )
    events.append(
        households.event(
            "household.ended", household, at=at, customer_id=household.manager_customer_id
        )
    )


async def _create(
    session: AsyncSession, sub: Any, accounts: int, *, at: datetime, events: list[dict[str, Any]]
) -> None:
    # A member who starts their own Duo/Family leaves the household they were in.
    previous = (await households.seat_of(session, [sub.customer_id])).get(sub.customer_id)
    if previous is not None:
        old = await households.get(session, previous.household_id)
        await households.release(session, [previous], reason="own_household", at=at)
        events.append(
            households.event(
                "household.member_left",
                old,
                at=at,
                customer_id=sub.customer_id,
                reason="own_household",
            )
        )
    household_id = await households.create(
        session,
        subscription_id=sub.id,
        manager_id=sub.customer_id,
        test_clock_id=sub.test_clock_id,
        product_id=sub.product_id,
        seats_limit=accounts,
        at=at,
    )
    created = await households.get(session, household_id)
    events.append(
        households.event("household.created", created, at=at, customer_id=sub.customer_id)
    )
