"""The seat limit holds when accepts race (truly concurrent connections on PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from tenure.db.engine import Database
from tenure.flows import accounts, households
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import subscribe
from tenure.households import service
from tenure.households.models import HouseholdMember
from tenure.kernel.errors import Conflict
from tests.integration.support import runtime_for

pytestmark = pytest.mark.xdist_group("race")


async def _customer(runtime: Runtime) -> str:
    row = await accounts.create_customer(
        runtime,
        external_id=f"race-{uuid.uuid4().hex[:10]}",
        email="race@example.com",
        market="SE",
        test_clock_id=None,
    )
    return row.id


@pytest.mark.parametrize(
    ("plan", "contenders"), [("premium_duo_monthly", 4), ("premium_family_monthly", 9)]
)
async def test_concurrent_accepts_never_overfill_a_household(
    database: Database, plan: str, contenders: int
) -> None:
    runtime = runtime_for(database)
    manager = await _customer(runtime)
    result = await subscribe(
        runtime,
        customer_id=manager,
        plan_id=plan,
        payment_method="pm_card_visa",
        trial=False,
        actor="test",
    )
    async with database.read() as session:
        household = await service.active_by_subscription(session, result.subscription_id)
    assert household is not None
    await households.set_address(runtime, household_id=household.id, address="1 Home Road")
    codes = [
        (await households.invite(runtime, household_id=household.id, expires_in_hours=None)).code
        for _ in range(contenders)
    ]
    joiners = [await _customer(runtime) for _ in range(contenders)]

    async def attempt(code: str, customer: str) -> str:
        try:
            await households.accept(
                runtime, code=code, customer_id=customer, address="1 home road", actor="test"
            )
        except Conflict as error:
            return error.code
        return "joined"

    outcomes = await asyncio.gather(*(attempt(c, j) for c, j in zip(codes, joiners, strict=True)))
    seats = household.seats_limit - 1
    assert outcomes.count("joined") == seats
    assert outcomes.count("household_full") == contenders - seats
    async with database.read() as session:
        row = await service.get(session, household.id)
        members = await session.scalar(
            select(func.count()).where(
                HouseholdMember.household_id == household.id, HouseholdMember.left_at.is_(None)
            )
        )
    assert row.seats_used == members == household.seats_limit


async def test_one_customer_accepting_two_invites_at_once_joins_one_household(
    database: Database,
) -> None:
    runtime = runtime_for(database)
    homes = []
    for _ in range(2):
        manager = await _customer(runtime)
        result = await subscribe(
            runtime,
            customer_id=manager,
            plan_id="premium_duo_monthly",
            payment_method="pm_card_visa",
            trial=False,
            actor="test",
        )
        async with database.read() as session:
            found = await service.active_by_subscription(session, result.subscription_id)
        assert found is not None
        homes.append(found.id)
    codes = [
        (await households.invite(runtime, household_id=h, expires_in_hours=None)).code
        for h in homes
    ]
    joiner = await _customer(runtime)

    async def attempt(code: str) -> str:
        try:
            await households.accept(
                runtime, code=code, customer_id=joiner, address=None, actor="test"
            )
        except Conflict as error:
            return error.code
        return "joined"

    outcomes = sorted(await asyncio.gather(*(attempt(code) for code in codes)))
    assert outcomes == ["already_in_household", "joined"]
