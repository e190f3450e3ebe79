"""Duo and Family households: the household, its seats, invites, and the ref on a subscription."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tenure.api.resources.base import Resource, at, ts
from tenure.households.records import HouseholdRecord, HouseholdStatus, InviteRecord, Seat


class HouseholdRef(Resource):
    """The household a Duo/Family subscription owns, as shown on the subscription."""

    id: str
    accounts: int
    seats_used: int
    free_seats: int


class HouseholdManager(Resource):
    customer: str
    joined_at: str | None


class HouseholdMember(Resource):
    customer: str
    joined_at: str


class Household(Resource):
    id: str
    object: Literal["household"]
    status: HouseholdStatus
    subscription: str
    product: str
    manager: HouseholdManager
    members: list[HouseholdMember]
    accounts: int
    seats_used: int
    free_seats: int
    address_set: bool  # only a salted hash of the address is kept
    test_clock: str | None
    created: str
    ended_at: str | None
    ended_reason: str | None


class HouseholdInvite(Resource):
    object: Literal["household_invite"]
    code: str
    household: str
    created: str
    expires_at: str


def household_ref_of(row: HouseholdRecord | None) -> HouseholdRef | None:
    if row is None:
        return None
    return HouseholdRef(
        id=row.id,
        accounts=row.seats_limit,
        seats_used=row.seats_used,
        free_seats=row.free_seats,
    )


def household_of(row: HouseholdRecord, seats: Sequence[Seat]) -> Household:
    manager = next((seat for seat in seats if seat.role == "manager"), None)
    return Household(
        id=row.id,
        object="household",
        status=row.status,
        subscription=row.subscription_id,
        product=row.product_id,
        manager=HouseholdManager(
            customer=row.manager_customer_id,
            joined_at=ts(manager.joined_at) if manager else None,
        ),
        members=[
            HouseholdMember(customer=seat.customer_id, joined_at=at(seat.joined_at))
            for seat in seats
            if seat.role == "member"
        ],
        accounts=row.seats_limit,
        seats_used=row.seats_used,
        free_seats=row.free_seats,
        address_set=row.address_hash is not None,
        test_clock=row.test_clock_id,
        created=at(row.created_at),
        ended_at=ts(row.ended_at),
        ended_reason=row.ended_reason,
    )


def invite_of(row: InviteRecord, household_id: str) -> HouseholdInvite:
    return HouseholdInvite(
        object="household_invite",
        code=row.code,
        household=household_id,
        created=at(row.created_at),
        expires_at=at(row.expires_at),
    )
