"""Household use cases: invites, accepting, leaving, removing members, the home address.

Creating and ending households, and shrinking them when the manager's plan changes, happen in
:mod:`tenure.flows.projection`, driven by the manager's subscription.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.catalog.model import Catalog, Plan
from tenure.customers import service as customers
from tenure.events.record import record as record_events
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.households import rules
from tenure.households import service as households
from tenure.households.address import address_hash
from tenure.households.records import (
    HouseholdRecord,
    HouseholdStatus,
    InviteRecord,
    InviteStatus,
    Seat,
)
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import LIVE_STATUSES, Action, Status

DEFAULT_INVITE_HOURS: Final = 7 * 24
MAX_INVITE_HOURS: Final = 30 * 24


@dataclass(frozen=True, slots=True)
class Summary:
    household: HouseholdRecord
    seats: list[Seat]


async def summary(runtime: Runtime, household_id: str) -> Summary:
    async with runtime.db.read() as session:
        return await _summary(session, household_id)


async def _summary(session: AsyncSession, household_id: str) -> Summary:
    household = await households.get(session, household_id)
    return Summary(household, await households.seats(session, [household_id]))


def _active(household: HouseholdRecord) -> None:
    if household.status is not HouseholdStatus.ACTIVE:
        raise Conflict(
            f"household {household.id} has ended ({household.ended_reason})",
            code="household_ended",
        )


async def set_address(runtime: Runtime, *, household_id: str, address: str) -> Summary:
    """The manager's home address, kept only as a salted hash."""
    async with runtime.db.transaction() as session:
        household = await households.get(session, household_id, for_update=True)
        _active(household)
        value = address_hash(address, await households.salt(session))
        await households.set_address_hash(session, household_id, value)
        return await _summary(session, household_id)


async def invite(
    runtime: Runtime, *, household_id: str, expires_in_hours: int | None
) -> InviteRecord:
    hours = DEFAULT_INVITE_HOURS if expires_in_hours is None else expires_in_hours
    if not 1 <= hours <= MAX_INVITE_HOURS:
        raise InvalidRequest(
            f"expires_in_hours must be between 1 and {MAX_INVITE_HOURS}",
            code="invalid_invite_expiry",
        )
    async with runtime.db.transaction() as session:
        household = await households.get(session, household_id)
        _active(household)
        now = await runtime.now_for(session, household.test_clock_id)
        row = await households.create_invite(
            session, household_id, at=now, expires_at=now + timedelta(hours=hours)
        )
        await record_events(
            session,
            [
                households.event(
                    "household.invite_created",
                    household,
                    at=now,
                    customer_id=household.manager_customer_id,
                    expires_at=rfc3339(row.expires_at),
                )
            ],
        )
    return row


async def accept(
    runtime: Runtime, *, code: str, customer_id: str, address: str | None, actor: str
) -> Summary:
    """Join the invite's household. The seat limit and "one household per customer" are
    enforced by the database (a guarded seat counter and a unique index), so concurrent
    accepts cannot overfill a household.

    Effects: ``household.member_joined``; a joining customer's own live subscription is set to
    cancel at its period end (``subscription.canceled``).
    """
    try:
        async with runtime.db.transaction() as session:
            invitation = await households.get_invite(session, code)
            household = await households.get(session, invitation.household_id)
            _active(household)
            customer = await customers.get(session, customer_id, for_update=True)
            if customer.test_clock_id != household.test_clock_id:
                raise Conflict(
                    "the customer and the household's manager must live on the same test clock",
                    code="test_clock_mismatch",
                )
            now = await runtime.now_for(session, household.test_clock_id)
            if invitation.status is not InviteStatus.OPEN:
                raise Conflict(f"invite {code} has been used", code="invite_used")
            if invitation.expires_at <= now:
                raise Conflict(f"invite {code} has expired", code="invite_expired")
            seat = (await households.seat_of(session, [customer_id])).get(customer_id)
            if seat is not None:
                raise Conflict(
                    f"customer {customer_id} already belongs to household {seat.household_id}; "
                    "leave it first",
                    code="already_in_household",
                    household=seat.household_id,
                )
            await _check_address(session, runtime.catalog, household, address)
            uow = UnitOfWork(runtime, session, actor)
            await _cancel_own_subscription(uow, customer_id, household, now)
            await households.use_invite(session, code, customer_id, at=now)
            if not await households.take_seat(session, household.id):
                raise Conflict(f"household {household.id} has no free seat", code="household_full")
            await households.add_member(session, household.id, customer_id, at=now)
            uow.emit(
                households.event(
                    "household.member_joined", household, at=now, customer_id=customer_id
                )
            )
            await uow.flush()
            return await _summary(session, household.id)
    except IntegrityError:
        raise Conflict(
            f"customer {customer_id} already belongs to a household; leave it first",
            code="already_in_household",
        ) from None


async def _check_address(
    session: AsyncSession, catalog: Catalog, household: HouseholdRecord, address: str | None
) -> None:
    product = catalog.products.get(household.product_id)
    if product is None or not rules.requires_same_address(product):
        return
    if address is None:
        raise InvalidRequest(
            f'{product.name} members must live at the manager\'s address; send "address"',
            code="address_required",
        )
    if household.address_hash is None:
        raise Conflict(
            "the manager has not set the household's home address yet "
            f"(POST /v1/households/{household.id}/address)",
            code="household_address_missing",
        )
    if address_hash(address, await households.salt(session)) != household.address_hash:
        raise InvalidRequest(
            "the address does not match the household's home address",
            code="address_mismatch",
        )


async def _cancel_own_subscription(
    uow: UnitOfWork, customer_id: str, household: HouseholdRecord, now: datetime
) -> None:
    """A member's own subscription ends at its period end; they keep it until then."""
    found = await subs.load(
        uow.session,
        Subscription.customer_id == customer_id,
        Subscription.channel == "web",  # Tenure cannot cancel a store subscription
        Subscription.status.in_([s.value for s in LIVE_STATUSES]),
        for_update=True,
    )
    if not found:
        return
    sub = found[0]
    if sub.state is Status.INCOMPLETE:
        raise Conflict(
            f"{sub.id} is waiting for its first payment; pay or cancel it before joining",
            code="subscription_incomplete",
            subscription=sub.id,
        )
    if sub.cancel_at_period_end:
        return
    await changes.add(
        uow.session,
        sub.pending,
        subscription_id=sub.id,
        kind=ChangeKind.CANCEL,
        effective_at=sub.current_period_end,
        at=now,
    )
    sub.canceled_at = now
    uow.track(sub)
    uow.record(
        sub.apply(
            Action.SCHEDULE_CANCEL,
            at=now,
            actor=uow.actor,
            reason=f"joined household {household.id}",
        )
    )
    uow.emit(
        sub.event(
            "subscription.canceled",
            at=now,
            at_period_end=True,
            voided_invoices=[],
            reason="joined_household",
            household=household.id,
        )
    )


async def leave(runtime: Runtime, *, household_id: str, customer_id: str, removed: bool) -> Summary:
    """A member leaves (or the manager removes them); they fall back to their own sources."""
    async with runtime.db.transaction() as session:
        household = await households.get(session, household_id, for_update=True)
        _active(household)
        seat = (await households.seat_of(session, [customer_id])).get(customer_id)
        if seat is None or seat.household_id != household_id:
            raise households.NotAMember(
                f"customer {customer_id} is not a member of household {household_id}"
            )
        if seat.role == households.MANAGER:
            raise Conflict(
                "the manager cannot leave; the household ends with the manager's subscription",
                code="manager_cannot_leave",
            )
        now = await runtime.now_for(session, household.test_clock_id)
        reason = "removed" if removed else "left"
        await households.release(session, [seat], reason=reason, at=now)
        kind = "household.member_removed" if removed else "household.member_left"
        await record_events(
            session,
            [households.event(kind, household, at=now, customer_id=customer_id, reason=reason)],
        )
        return await _summary(session, household_id)


async def guard_plan_change(
    session: AsyncSession,
    catalog: Catalog,
    subscription_id: str,
    plan: Plan,
    *,
    remove_members: bool,
) -> None:
    """Refuse a change to a plan with fewer accounts than the household has members, unless
    the caller asked to remove them (they are removed when the change applies, latest first)."""
    household = await households.active_by_subscription(session, subscription_id)
    if household is None or remove_members:
        return
    members = household.seats_used - 1
    capacity = rules.member_capacity(catalog.product_of(plan))
    if members > capacity:
        raise Conflict(
            f"household {household.id} has {members} member(s) and {plan.id} allows "
            f'{capacity}; remove members first or send "remove_members": true',
            code="household_has_members",
            household=household.id,
            members=members,
            allowed_members=capacity,
        )
