"""Keeping households and the entitlements projection up to date in every transaction.

:func:`install` registers a pre-commit hook on the database. Write paths only record which
customers they touched (``db.touched``); before COMMIT the hook

1. reconciles households with their manager's subscription (a Duo/Family subscription that
   has started owns one; a plan with fewer accounts removes the latest members; a subscription
   that ended ends its household), which may touch more customers;
2. adds the members of every touched manager's household (they follow the manager);
3. recomputes those customers set-based: lock their rows, one query for every source, decide,
   one write, and an ``entitlements.changed`` event for each value that changed.

After COMMIT the in-process read cache drops the customers that were recomputed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

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
from tenure.households import service as households
from tenure.households.models import Household, HouseholdMember
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import ENTITLED_STATUSES, LIVE_STATUSES, Status

if TYPE_CHECKING:
    from tenure.flows.runtime import Runtime

_subs = table_of(Subscription)
_households = table_of(Household)
_members = table_of(HouseholdMember)
_grants = table_of(Grant)
_ENTITLED: Final = sorted(status.value for status in ENTITLED_STATUSES)
_ON_HOLD: Final = Status.ON_HOLD.value
# A subscription owns a household once it has started: live, and past the first payment.
_OWNS_HOUSEHOLD: Final = sorted(s.value for s in LIVE_STATUSES if s is not Status.INCOMPLETE)
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
        await reconcile_households(runtime, session, touched)
        touched |= take_touched(session)
        followers = await households.seats(
            session, [h.id for h in await _managed(session, touched)]
        )
        touched |= {seat.customer_id for seat in followers}
        await recompute(runtime, session, touched)
        note_recomputed(session, touched)
    raise RuntimeError("entitlement projection did not settle")  # a bug: touches loop


async def _managed(session: AsyncSession, customer_ids: Iterable[str]) -> list[Any]:
    ids = list(customer_ids)
    if not ids:
        return []
    rows = await session.execute(
        select(_households.c.id).where(
            _households.c.manager_customer_id.in_(ids), _households.c.status == "active"
        )
    )
    return list(rows)


# --- Households follow their manager's subscription ------------------------------------------


async def reconcile_households(
    runtime: Runtime, session: AsyncSession, customer_ids: set[str]
) -> None:
    catalog = runtime.catalog
    rows = await session.execute(
        select(_subs.c.id, _subs.c.customer_id, _subs.c.product_id, _subs.c.test_clock_id).where(
            _subs.c.customer_id.in_(sorted(customer_ids)), _subs.c.status.in_(_OWNS_HOUSEHOLD)
        )
    )
    live = {row.customer_id: row for row in rows}
    owning = {
        cid: row
        for cid, row in live.items()
        if row.product_id in catalog.products and catalog.products[row.product_id].accounts > 1
    }
    managed = {
        h.manager_customer_id: h
        for h in await households.active_managed_by(session, sorted(customer_ids))
    }
    if not owning and not managed:
        return
    clocks = {row.test_clock_id for row in owning.values()} | {
        h.test_clock_id for h in managed.values()
    }
    times = await runtime.times_for(session, clocks | {None})
    seats_of = defaultdict(list)
    for seat in await households.seats(session, [h.id for h in managed.values()]):
        seats_of[seat.household_id].append(seat)
    events: list[dict[str, Any]] = []
    for customer_id in sorted(set(owning) | set(managed)):
        sub, household = owning.get(customer_id), managed.get(customer_id)
        if household is not None and (sub is None or household.subscription_id != sub.id):
            at = times[household.test_clock_id]
            still = live.get(customer_id)
            why = "plan_change" if still and still.id == household.subscription_id else "ended"
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
    await record_events(session, events)


async def _end(
    session: AsyncSession,
    household: Any,
    seats: Sequence[households.Seat],
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
    await households.end(session, household.id, reason=ended, at=at)
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
    return {cid: decide(catalog, items) for cid, items in found.items()}


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
