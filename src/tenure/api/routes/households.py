"""Households: read, home address, invites, accept, leave, remove."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from tenure.api.deps import RuntimeDep, actor_of, check_id
from tenure.api.schemas import AcceptInvite, CreateInvite, HouseholdAddress, LeaveHousehold
from tenure.api.views import ts
from tenure.flows import households as flows
from tenure.kernel.errors import NotFound


def household_ref(row: Any | None) -> dict[str, Any] | None:
    """The household a Duo/Family subscription owns, as shown on the subscription."""
    if row is None:
        return None
    return {
        "id": row.id,
        "accounts": row.seats_limit,
        "seats_used": row.seats_used,
        "free_seats": max(row.seats_limit - row.seats_used, 0),
    }


def household_view(summary: flows.Summary) -> dict[str, Any]:
    row = summary.household
    manager = next((s for s in summary.seats if s.role == "manager"), None)
    return {
        "id": row.id,
        "object": "household",
        "status": row.status,
        "subscription": row.subscription_id,
        "product": row.product_id,
        "manager": {
            "customer": row.manager_customer_id,
            "joined_at": ts(manager.joined_at) if manager else None,
        },
        "members": [
            {"customer": s.customer_id, "joined_at": ts(s.joined_at)}
            for s in summary.seats
            if s.role == "member"
        ],
        "accounts": row.seats_limit,
        "seats_used": row.seats_used,
        "free_seats": max(row.seats_limit - row.seats_used, 0) if row.status == "active" else 0,
        "address_set": row.address_hash is not None,
        "test_clock": row.test_clock_id,
        "created": ts(row.created_at),
        "ended_at": ts(row.ended_at),
        "ended_reason": row.ended_reason,
    }


def _invite_code(code: str) -> str:
    if not code or len(code) > 64 or not code.replace("-", "").replace("_", "").isalnum():
        raise NotFound(f"no invite with code {code!r}", code="invite_not_found")
    return code


class HouseholdController(Controller):
    path = "/v1/households"
    tags = ["households"]

    @get("/{household_id:str}", summary="A household: manager, members and free seats")
    async def read(self, household_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(household_id, "hh", "household")
        return household_view(await flows.summary(runtime, household_id))

    @post("/{household_id:str}/address", status_code=200, summary="Set the home address")
    async def address(
        self, household_id: FromPath[str], data: JSONBody[HouseholdAddress], runtime: RuntimeDep
    ) -> dict[str, Any]:
        """Only a salted hash of the normalized address is stored."""
        check_id(household_id, "hh", "household")
        summary = await flows.set_address(runtime, household_id=household_id, address=data.address)
        return household_view(summary)

    @post("/{household_id:str}/invites", status_code=201, summary="Create an invite code")
    async def invite(
        self,
        household_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[CreateInvite | None] = None,
    ) -> dict[str, Any]:
        check_id(household_id, "hh", "household")
        row = await flows.invite(
            runtime,
            household_id=household_id,
            expires_in_hours=data.expires_in_hours if data else None,
        )
        return {
            "object": "household_invite",
            "code": row.code,
            "household": household_id,
            "created": ts(row.created_at),
            "expires_at": ts(row.expires_at),
        }

    @post("/{household_id:str}/leave", status_code=200, summary="A member leaves")
    async def leave(
        self, household_id: FromPath[str], data: JSONBody[LeaveHousehold], runtime: RuntimeDep
    ) -> dict[str, Any]:
        check_id(household_id, "hh", "household")
        check_id(data.customer, "cus", "customer")
        summary = await flows.leave(
            runtime, household_id=household_id, customer_id=data.customer, removed=False
        )
        return household_view(summary)

    @delete(
        "/{household_id:str}/members/{customer_id:str}",
        status_code=200,
        summary="The manager removes a member",
    )
    async def remove(
        self, household_id: FromPath[str], customer_id: FromPath[str], runtime: RuntimeDep
    ) -> dict[str, Any]:
        check_id(household_id, "hh", "household")
        check_id(customer_id, "cus", "customer")
        summary = await flows.leave(
            runtime, household_id=household_id, customer_id=customer_id, removed=True
        )
        return household_view(summary)


@post("/v1/invites/{code:str}/accept", status_code=200, tags=["households"], summary="Join")
async def accept_invite(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    data: JSONBody[AcceptInvite],
    runtime: RuntimeDep,
) -> dict[str, Any]:
    check_id(data.customer, "cus", "customer")
    summary = await flows.accept(
        runtime,
        code=_invite_code(code),
        customer_id=data.customer,
        address=data.address,
        actor=actor_of(request),
    )
    return household_view(summary)
