"""The entitlements projection, kept up to date in every transaction. It only projects.

:func:`install` (called where the application is assembled) registers a pre-commit hook on the
database. Write paths only record which customers they touched (``db.touched``); before COMMIT
the hook adds the members of every touched manager's household (their access follows the
manager) and recomputes those customers set-based: lock their rows, one query for every
source, decide, one write, and an ``entitlements.changed`` event for each value that changed.
Households themselves are kept in line by the flows (:mod:`tenure.flows.household_sync`).

After COMMIT the in-process read cache drops the customers that were recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.catalog.model import Catalog
from tenure.db.base import table_of
from tenure.db.touched import note_recomputed, recomputed, take_touched
from tenure.entitlements import projection
from tenure.entitlements.models import Grant
from tenure.entitlements.read import render
from tenure.entitlements.rules import Candidate, Projected, Source, decide
from tenure.events.record import event_row
from tenure.events.record import record as record_events
from tenure.flows.runtime import Runtime
from tenure.households import service as households
from tenure.households.models import Household, HouseholdMember
from tenure.subscriptions import items as item_rows
from tenure.subscriptions.items import ItemStatus
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import ENTITLED_STATUSES, Status

_subs = table_of(Subscription)
_households = table_of(Household)
_members = table_of(HouseholdMember)
_grants = table_of(Grant)
_ENTITLED: Final = sorted(status.value for status in ENTITLED_STATUSES)
_ON_HOLD: Final = Status.ON_HOLD.value
_MAX_ROUNDS: Final = 5


def install(runtime: Runtime) -> None:
    async def before_commit(session: AsyncSession) -> None:
        await sync(runtime, session)

    def after_commit(session: AsyncSession) -> None:
        done = recomputed(session)
        if done:
            runtime.entitlements.invalidate(done)

    runtime.db.before_commit("entitlements", before_commit)
    runtime.db.after_commit("entitlements", after_commit)


async def sync(runtime: Runtime, session: AsyncSession) -> None:
    for _ in range(_MAX_ROUNDS):
        touched = take_touched(session)
        if not touched:
            return
        followers = await households.seats(
            session, [h.id for h in await _managed(session, touched)]
        )
        touched |= {seat.customer_id for seat in followers}
        await recompute(runtime, session, touched)
        note_recomputed(session, touched)
    raise RuntimeError("entitlement projection did not settle")  # a bug: touches loop


async def _managed(session: AsyncSession, customer_ids: Iterable[str]) -> list[Any]:
    """The active households these customers manage."""
    ids = list(customer_ids)
    if not ids:
        return []
    rows = await session.execute(
        select(_households.c.id).where(
            _households.c.manager_customer_id.in_(ids), _households.c.status == "active"
        )
    )
    return list(rows)


# --- The projection ----------------------------------------------------------------------------


def sources_query(customer_ids: Sequence[str]) -> Any:
    """Every source of every given customer, in one statement."""
    ids = list(customer_ids)
    own = select(
        _subs.c.customer_id,
        literal(Source.SUBSCRIPTION.value).label("source"),
        _subs.c.id.label("ref_id"),
        _subs.c.product_id,
        _subs.c.status,
        _subs.c.current_period_end.label("ends_at"),
        _subs.c.grace_ends_at,
        null().label("household_id"),
        _subs.c.id.label("subscription_id"),
    ).where(_subs.c.customer_id.in_(ids), _subs.c.status.in_([*_ENTITLED, _ON_HOLD]))
    shared = (
        select(
            _members.c.customer_id,
            literal(Source.HOUSEHOLD.value).label("source"),
            _households.c.id.label("ref_id"),
            _subs.c.product_id,
            _subs.c.status,
            _subs.c.current_period_end.label("ends_at"),
            _subs.c.grace_ends_at,
            _households.c.id.label("household_id"),
            _subs.c.id.label("subscription_id"),
        )
        .join(_households, _households.c.id == _members.c.household_id)
        .join(_subs, _subs.c.id == _households.c.subscription_id)
        .where(
            _members.c.customer_id.in_(ids),
            _members.c.left_at.is_(None),
            _members.c.role == households.MEMBER,
            _households.c.status == "active",
            _subs.c.status.in_(_ENTITLED),
        )
    )
    granted = select(
        _grants.c.customer_id,
        literal(Source.GRANT.value).label("source"),
        _grants.c.id.label("ref_id"),
        _grants.c.product_id,
        literal("active").label("status"),
        _grants.c.ends_at,
        null().label("grace_ends_at"),
        null().label("household_id"),
        null().label("subscription_id"),
    ).where(_grants.c.customer_id.in_(ids), _grants.c.status == "active")
    return union_all(own, shared, granted)


def candidate(row: Any) -> Candidate:
    source = Source(row.source)
    if source is Source.GRANT:
        return Candidate(
            source, row.product_id, "active", row.ref_id, row.ends_at, expires_at=row.ends_at
        )
    past_due = row.status == Status.PAST_DUE
    until = row.grace_ends_at if past_due and row.grace_ends_at else row.ends_at
    return Candidate(
        source,
        row.product_id,
        row.status,
        row.ref_id,
        until,
        billing_issue=past_due,
        subscription_id=row.subscription_id,
        household_id=row.household_id,
    )


async def compute(
    session: AsyncSession,
    catalog: Catalog,
    customer_ids: Sequence[str],
    *,
    now: datetime | None = None,
) -> dict[str, Projected]:
    """From scratch: what each customer's projection should be (grants ended by ``now`` left
    out when given)."""
    found: dict[str, list[Candidate]] = {cid: [] for cid in customer_ids}
    if not customer_ids:
        return {}
    for row in await session.execute(sources_query(customer_ids)):
        item = candidate(row)
        if row.status == _ON_HOLD:
            # Account hold: the subscription still exists but grants Free, and the answer says
            # there is a billing issue so clients can ask for a new card.
            item = replace(item, product=catalog.free.id, billing_issue=True, valid_until=None)
        if now is not None and item.expires_at is not None and item.expires_at <= now:
            continue
        found[row.customer_id].append(item)
    decided = {cid: decide(catalog, items) for cid, items in found.items()}
    return await _with_addons(session, decided)


async def _with_addons(
    session: AsyncSession, decided: dict[str, Projected]
) -> dict[str, Projected]:
    """Add-ons of the winning subscription are granted on top while it is entitled."""
    paying = {
        value.subscription_id
        for value in decided.values()
        if value.subscription_id and value.status in _ENTITLED
    }
    if not paying:
        return decided
    active = await item_rows.attached(session, sorted(paying), statuses=[ItemStatus.ACTIVE.value])
    return {
        cid: replace(
            value,
            addons=",".join(sorted({item.product_id for item in active[value.subscription_id]})),
        )
        if value.subscription_id in active and value.status in _ENTITLED
        else value
        for cid, value in decided.items()
    }


async def recompute(runtime: Runtime, session: AsyncSession, customer_ids: set[str]) -> None:
    current = await projection.lock(session, sorted(customer_ids))
    computed = await compute(session, runtime.catalog, sorted(current))
    changed = [(row, computed[cid]) for cid, row in current.items() if row.value != computed[cid]]
    if not changed:
        return
    times = await runtime.times_for(session, {row.test_clock_id for row, _ in changed} | {None})
    await projection.write(session, changed, at=times[None])
    events = []
    for row, value in changed:
        if row.value is None and value.source == Source.FREE:
            continue  # a new customer on Free: nothing a caller could have cached changed
        view = render(
            runtime.catalog,
            runtime.entitlements.tag,
            customer_id=row.customer_id,
            external_id=row.external_id,
            test_clock_id=row.test_clock_id,
            value=value,
            version=row.version + 1,
        )
        data = dict(view.body)
        data["previous"] = (
            None
            if row.value is None
            else {
                "product": row.value.product,
                "source": row.value.source,
                "status": row.value.status,
            }
        )
        events.append(
            event_row(
                "entitlements.changed",
                created=times[row.test_clock_id],
                data=data,
                customer_id=row.customer_id,
            )
        )
    await record_events(session, events)
