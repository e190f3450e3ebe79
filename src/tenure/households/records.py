"""Households and invites as typed records, with their state machines. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from tenure.kernel.machine import Machine


class HouseholdStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class HouseholdAction(StrEnum):
    END = "end"


HOUSEHOLD: Final = Machine(
    "household",
    HouseholdStatus,
    HouseholdAction,
    {(HouseholdStatus.ACTIVE, HouseholdAction.END): HouseholdStatus.ENDED},
    code="household_ended",
)


class InviteStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"


class InviteAction(StrEnum):
    ACCEPT = "accept"


INVITE: Final = Machine(
    "invite",
    InviteStatus,
    InviteAction,
    {(InviteStatus.OPEN, InviteAction.ACCEPT): InviteStatus.ACCEPTED},
    code="invite_used",
)


@dataclass(frozen=True, slots=True)
class HouseholdRecord:
    """Owned by the manager's Duo/Family subscription; lives while that subscription does."""

    id: str
    subscription_id: str
    manager_customer_id: str
    test_clock_id: str | None
    product_id: str
    seats_limit: int  # seats including the manager
    seats_used: int
    address_hash: str | None
    status: HouseholdStatus
    created_at: datetime
    ended_at: datetime | None
    ended_reason: str | None

    @property
    def free_seats(self) -> int:
        if self.status is not HouseholdStatus.ACTIVE:
            return 0
        return max(self.seats_limit - self.seats_used, 0)


@dataclass(frozen=True, slots=True)
class InviteRecord:
    code: str
    household_id: str
    status: InviteStatus
    created_at: datetime
    expires_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Seat:
    id: str
    household_id: str
    customer_id: str
    role: str  # manager | member
    joined_at: datetime
