"""Households: read, home address, invites, accept, leave, remove."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from tenure.api.deps import RuntimeDep, actor_of, check_id
from tenure.api.openapi import problems
from tenure.api.resources.households import Household, HouseholdInvite, household_of, invite_of
from tenure.api.schemas import AcceptInvite, CreateInvite, HouseholdAddress, LeaveHousehold
from tenure.flows import households as flows
from tenure.kernel.errors import NotFound

_NOT_FOUND = (404, "household_not_found")
_LEAVE = problems(
    (404, "household_not_found household_member_not_found"), (409, "manager_cannot_leave")
)


def _view(summary: flows.Summary) -> Household:
    return household_of(summary.household, summary.seats)


def _invite_code(code: str) -> str:
    if not code or len(code) > 64 or not code.replace("-", "").replace("_", "").isalnum():
        raise NotFound(f"no invite with code {code!r}", code="invite_not_found")
    return code


class HouseholdController(Controller):
    path = "/v1/households"
    tags = ["households"]

    @get(
        "/{household_id:str}",
        summary="A household: manager, members and free seats",
        responses=problems(_NOT_FOUND),
    )
    async def read(self, household_id: FromPath[str], runtime: RuntimeDep) -> Household:
        check_id(household_id, "hh", "household")
        return _view(await flows.summary(runtime, household_id))

    @post(
        "/{household_id:str}/address",
        status_code=200,
        summary="Set the home address",
        responses=problems(_NOT_FOUND, (409, "household_ended")),
    )
    async def address(
        self, household_id: FromPath[str], data: JSONBody[HouseholdAddress], runtime: RuntimeDep
    ) -> Household:
        """Only a salted hash of the normalized address is stored."""
        check_id(household_id, "hh", "household")
        summary = await flows.set_address(runtime, household_id=household_id, address=data.address)
        return _view(summary)

    @post(
        "/{household_id:str}/invites",
        status_code=201,
        summary="Create an invite code",
        responses=problems(_NOT_FOUND, (409, "household_ended"), (422, "invalid_invite_expiry")),
    )
    async def invite(
        self,
        household_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[CreateInvite | None] = None,
    ) -> HouseholdInvite:
        check_id(household_id, "hh", "household")
        row = await flows.invite(
            runtime,
            household_id=household_id,
            expires_in_hours=data.expires_in_hours if data else None,
        )
        return invite_of(row, household_id)

    @post(
        "/{household_id:str}/leave",
        status_code=200,
        summary="A member leaves",
        responses=problems(
            (404, "household_not_found household_member_not_found"), (409, "manager_cannot_leave")
        ),
    )
    async def leave(
        self, household_id: FromPath[str], data: JSONBody[LeaveHousehold], runtime: RuntimeDep
    ) -> Household:
        check_id(household_id, "hh", "household")
        check_id(data.customer, "cus", "customer")
        summary = await flows.leave(
            runtime, household_id=household_id, customer_id=data.customer, removed=False
        )
        return _view(summary)

    @delete(
        "/{household_id:str}/members/{customer_id:str}",
        status_code=200,
        summary="The manager removes a member",
        responses=problems(
            (404, "household_not_found household_member_not_found"), (409, "manager_cannot_leave")
        ),
    )
    async def remove(
        self, household_id: FromPath[str], customer_id: FromPath[str], runtime: RuntimeDep
    ) -> Household:
        check_id(household_id, "hh", "household")
        check_id(customer_id, "cus", "customer")
        summary = await flows.leave(
            runtime, household_id=household_id, customer_id=customer_id, removed=True
        )
        return _view(summary)


@post(
    "/v1/invites/{code:str}/accept",
    status_code=200,
    tags=["households"],
    summary="Join",
    responses=problems(
        (404, "invite_not_found customer_not_found"),
        (
            409,
            "invite_used invite_expired household_full already_in_household household_ended "
            "subscription_incomplete test_clock_mismatch",
        ),
        (422, "address_required household_address_missing address_mismatch"),
    ),
)
async def accept_invite(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    data: JSONBody[AcceptInvite],
    runtime: RuntimeDep,
) -> Household:
    check_id(data.customer, "cus", "customer")
    summary = await flows.accept(
        runtime,
        code=_invite_code(code),
        customer_id=data.customer,
        address=data.address,
        actor=actor_of(request),
    )
    return _view(summary)
