"""Households, members, seats and invites on the caller's session (never commits)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.db.touched import touch_customers
from tenure.events.record import event_row
from tenure.households.models import Household, HouseholdInvite, HouseholdMember, HouseholdSalt
from tenure.households.records import (
    HOUSEHOLD,
    INVITE,
    HouseholdAction,
    HouseholdRecord,
    HouseholdStatus,
    InviteAction,
    InviteRecord,
    InviteStatus,
    Seat,
)
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, NotFound
from tenure.kernel.ids import new_id

households = table_of(Household)
members = table_of(HouseholdMember)
invites = table_of(HouseholdInvite)
_salt = table_of(HouseholdSalt)

ACTIVE: Final = "active"
MANAGER: Final = "manager"
MEMBER: Final = "member"


class HouseholdNotFound(NotFound):
    code = "household_not_found"


class NotAMember(NotFound):
    code = "household_member_not_found"


def _seat(row: RowMapping) -> Seat:
    return Seat(row["id"], row["household_id"], row["customer_id"], row["role"], row["joined_at"])


def _household(row: RowMapping) -> HouseholdRecord:
    return HouseholdRecord(
        id=row["id"],
        subscription_id=row["subscription_id"],
        manager_customer_id=row["manager_customer_id"],
        test_clock_id=row["test_clock_id"],
        product_id=row["product_id"],
        seats_limit=row["seats_limit"],
        seats_used=row["seats_used"],
        address_hash=row["address_hash"],
        status=HouseholdStatus(row["status"]),
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        ended_reason=row["ended_reason"],
    )


def _invite(row: RowMapping) -> InviteRecord:
    return InviteRecord(
        code=row["code"],
        household_id=row["household_id"],
        status=InviteStatus(row["status"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        accepted_by=row["accepted_by"],
        accepted_at=row["accepted_at"],
    )


async def get(
    session: AsyncSession, household_id: str, *, for_update: bool = False
) -> HouseholdRecord:
    statement = select(households).where(households.c.id == household_id)
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    row = (await session.execute(statement)).mappings().first()
    if row is None:
        raise HouseholdNotFound(f"no household {household_id!r}")
    return _household(row)


async def active_by_subscription(
    session: AsyncSession, subscription_id: str
) -> HouseholdRecord | None:
    row = (
        (
            await session.execute(
                select(households).where(
                    households.c.subscription_id == subscription_id,
                    households.c.status == ACTIVE,
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _household(row)


async def active_managed_by(
    session: AsyncSession, customer_ids: Sequence[str]
) -> list[HouseholdRecord]:
    if not customer_ids:
        return []
    statement = select(households).where(
        households.c.manager_customer_id.in_(list(customer_ids)), households.c.status == ACTIVE
    )
    if is_postgres(session):
        statement = statement.order_by(households.c.id).with_for_update()
    return [_household(row) for row in (await session.execute(statement)).mappings().all()]


async def seats(session: AsyncSession, household_ids: Sequence[str]) -> list[Seat]:
    """Current seats (manager and members) of the households, in joining order."""
    if not household_ids:
        return []
    rows = await session.execute(
        select(members)
        .where(members.c.household_id.in_(list(household_ids)), members.c.left_at.is_(None))
        .order_by(members.c.joined_at, members.c.id)
    )
    return [_seat(row) for row in rows.mappings()]


async def seat_of(session: AsyncSession, customer_ids: Sequence[str]) -> dict[str, Seat]:
    """The current seat of each customer that has one."""
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(members).where(
            members.c.customer_id.in_(list(customer_ids)), members.c.left_at.is_(None)
        )
    )
    return {row["customer_id"]: _seat(row) for row in rows.mappings()}


async def create(
    session: AsyncSession,
    *,
    subscription_id: str,
    manager_id: str,
    test_clock_id: str | None,
    product_id: str,
    seats_limit: int,
    at: datetime,
) -> str:
    household_id = new_id("hh")
    await session.execute(
        insert(households).values(
            id=household_id,
            subscription_id=subscription_id,
            manager_customer_id=manager_id,
            test_clock_id=test_clock_id,
            product_id=product_id,
            seats_limit=seats_limit,
            seats_used=1,
            address_hash=None,
            status=ACTIVE,
            created_at=at,
            ended_at=None,
            ended_reason=None,
        )
    )
    await session.execute(
        insert(members).values(
            id=new_id("hhm"),
            household_id=household_id,
            customer_id=manager_id,
            role=MANAGER,
            joined_at=at,
            left_at=None,
            left_reason=None,
        )
    )
    touch_customers(session, [manager_id])
    return household_id


async def take_seat(session: AsyncSession, household_id: str) -> bool:
    """Take one seat if one is free; the guard in the UPDATE makes the limit hold under races."""
    result = await session.execute(
        update(households)
        .where(
            households.c.id == household_id,
            households.c.status == ACTIVE,
            households.c.seats_used < households.c.seats_limit,
        )
        .values(seats_used=households.c.seats_used + 1)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def add_member(
    session: AsyncSession, household_id: str, customer_id: str, *, at: datetime
) -> None:
    await session.execute(
        insert(members).values(
            id=new_id("hhm"),
            household_id=household_id,
            customer_id=customer_id,
            role=MEMBER,
            joined_at=at,
            left_at=None,
            left_reason=None,
        )
    )
    touch_customers(session, [customer_id])


async def release(
    session: AsyncSession, released: Sequence[Seat], *, reason: str, at: datetime
) -> None:
    """Free the seats: members leave (history kept), each household's count goes down."""
    if not released:
        return
    await session.execute(
        update(members)
        .where(members.c.id.in_([seat.id for seat in released]))
        .values(left_at=at, left_reason=reason)
    )
    per_household: dict[str, int] = {}
    for seat in released:
        per_household[seat.household_id] = per_household.get(seat.household_id, 0) + 1
    for household_id, count in sorted(per_household.items()):
        await session.execute(
            update(households)
            .where(households.c.id == household_id)
            .values(seats_used=households.c.seats_used - count)
        )
    touch_customers(session, [seat.customer_id for seat in released])


async def end(
    session: AsyncSession, household: HouseholdRecord, *, reason: str, at: datetime
) -> None:
    status = HOUSEHOLD.next(household.status, HouseholdAction.END)
    await session.execute(
        update(households)
        .where(households.c.id == household.id)
        .values(status=status.value, ended_at=at, ended_reason=reason)
    )


async def resize(
    session: AsyncSession, household_id: str, *, product_id: str, seats_limit: int
) -> None:
    await session.execute(
        update(households)
        .where(households.c.id == household_id)
        .values(product_id=product_id, seats_limit=seats_limit)
    )


async def set_address_hash(session: AsyncSession, household_id: str, value: str) -> None:
    await session.execute(
        update(households).where(households.c.id == household_id).values(address_hash=value)
    )


async def salt(session: AsyncSession) -> str:
    found: str | None = await session.scalar(select(_salt.c.salt).where(_salt.c.id == 1))
    if found is None:  # the migration writes it; a database built from metadata may lack it
        found = secrets.token_hex(16)
        await session.execute(insert(_salt).values(id=1, salt=found))
    return found


# --- Invites ---------------------------------------------------------------------------------


async def create_invite(
    session: AsyncSession, household_id: str, *, at: datetime, expires_at: datetime
) -> InviteRecord:
    invite = InviteRecord(
        code=secrets.token_urlsafe(12),
        household_id=household_id,
        status=InviteStatus.OPEN,
        created_at=at,
        expires_at=expires_at,
        accepted_by=None,
        accepted_at=None,
    )
    await session.execute(
        insert(invites).values(
            code=invite.code,
            household_id=invite.household_id,
            status=invite.status.value,
            created_at=invite.created_at,
            expires_at=invite.expires_at,
            accepted_by=None,
            accepted_at=None,
        )
    )
    return invite


async def get_invite(session: AsyncSession, code: str) -> InviteRecord:
    row = (await session.execute(select(invites).where(invites.c.code == code))).mappings().first()
    if row is None:
        raise NotFound(f"no invite with code {code!r}", code="invite_not_found")
    return _invite(row)


async def use_invite(session: AsyncSession, code: str, customer_id: str, *, at: datetime) -> None:
    accepted = INVITE.next(InviteStatus.OPEN, InviteAction.ACCEPT)
    result = await session.execute(
        update(invites)
        .where(invites.c.code == code, invites.c.status == InviteStatus.OPEN.value)
        .values(status=accepted.value, accepted_by=customer_id, accepted_at=at)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise Conflict(f"invite {code} has been used", code="invite_used")


# --- Events ----------------------------------------------------------------------------------


def event(
    type: str, household: HouseholdRecord, *, at: datetime, customer_id: str, **extra: Any
) -> dict[str, Any]:
    data = {
        "household": household.id,
        "subscription": household.subscription_id,
        "manager": household.manager_customer_id,
        "product": household.product_id,
        "customer": customer_id,
        "at": rfc3339(at),
        **extra,
    }
    return event_row(type, created=at, data=data, customer_id=customer_id)
