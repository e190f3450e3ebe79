"""Random lifecycles: after every step the projection equals a from-scratch computation.

Steps: subscribe (with or without a trial, with a card that fails renewals or not), cancel now
or at period end, reactivate, change plan (removing members), advance the clock (renewals,
declined renewals, grace expiry, trial ends, grant ends), join and leave households, give and
revoke grants. Domain refusals are fine; what must never happen is a projection row that
differs from what its sources say, or a household with more members than seats.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tenure.db.engine import Database
from tenure.entitlements import projection as rows
from tenure.flows import accounts, change_plan, grants, households, manage, projection, time_travel
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import subscribe
from tenure.households import service
from tenure.households.models import Household, HouseholdMember
from tenure.kernel.errors import DomainError
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import LIVE_STATUSES
from tests.integration.support import runtime_for

PEOPLE = 4
PLANS = [
    "premium_individual_monthly",
    "premium_duo_monthly",
    "premium_family_monthly",
    "premium_student_monthly",
]
CARDS = ["pm_card_visa", "pm_card_fails_after_first", "pm_card_declined"]
PRODUCTS = ["premium_individual", "premium_family", "premium_student"]
who = st.integers(0, PEOPLE - 1)
step = st.one_of(
    st.tuples(
        st.just("subscribe"), who, st.sampled_from(PLANS), st.booleans(), st.sampled_from(CARDS)
    ),
    st.tuples(st.just("cancel"), who, st.booleans()),
    st.tuples(st.just("reactivate"), who),
    st.tuples(
        st.just("change"), who, st.sampled_from(PLANS), st.sampled_from(["now", "period_end"])
    ),
    st.tuples(st.just("advance"), st.integers(1, 40)),
    st.tuples(st.just("join"), who, who),
    st.tuples(st.just("leave"), who),
    st.tuples(st.just("grant"), who, st.sampled_from(PRODUCTS), st.integers(1, 20)),
    st.tuples(st.just("revoke"), who),
)


class World:
    def __init__(self, runtime: Runtime, clock: str, people: list[str]) -> None:
        self.runtime = runtime
        self.clock = clock
        self.people = people
        self.now = datetime(2025, 1, 31, 10, tzinfo=UTC)
        self.grants: dict[str, list[str]] = {p: [] for p in people}

    async def live_sub(self, customer: str) -> str | None:
        async with self.runtime.db.read() as session:
            found: str | None = await session.scalar(
                select(Subscription.id).where(
                    Subscription.customer_id == customer,
                    Subscription.status.in_([s.value for s in LIVE_STATUSES]),
                )
            )
        return found

    async def run(self, op: tuple[Any, ...]) -> None:
        name, *args = op
        runtime = self.runtime
        if name == "subscribe":
            person, plan, trial, card = args
            await subscribe(
                runtime,
                customer_id=self.people[person],
                plan_id=plan,
                payment_method=card,
                trial=trial,
                actor="prop",
            )
        elif name in ("cancel", "reactivate", "change"):
            sub = await self.live_sub(self.people[args[0]])
            if sub is None:
                return
            if name == "cancel":
                await manage.cancel(runtime, subscription_id=sub, at_period_end=args[1], actor="p")
            elif name == "reactivate":
                await manage.reactivate(runtime, subscription_id=sub, actor="p")
            else:
                await change_plan.change(
                    runtime,
                    subscription_id=sub,
                    plan_id=args[1],
                    at=args[2],
                    actor="p",
                    remove_members=True,
                )
        elif name == "advance":
            self.now += timedelta(days=args[0])
            await time_travel.advance(runtime, clock_id=self.clock, to=self.now)
        elif name == "join":
            await self.join(self.people[args[0]], self.people[args[1]])
        elif name == "leave":
            person = self.people[args[0]]
            async with runtime.db.read() as session:
                seat = (await service.seat_of(session, [person])).get(person)
            if seat is not None:
                await households.leave(
                    runtime, household_id=seat.household_id, customer_id=person, removed=False
                )
        elif name == "grant":
            person, product, days = args
            row = await grants.create(
                runtime,
                customer_id=self.people[person],
                product=product,
                ends_at=None,
                days=days,
                reason="property test",
                actor="p",
            )
            self.grants[self.people[person]].append(row["id"])
        elif name == "revoke":
            person = self.people[args[0]]
            if self.grants[person]:
                await grants.revoke(
                    runtime, customer_id=person, grant_id=self.grants[person].pop(), actor="p"
                )

    async def join(self, manager: str, member: str) -> None:
        async with self.runtime.db.read() as session:
            managed = await service.active_managed_by(session, [manager])
        if not managed:
            return
        household = managed[0].id
        await households.set_address(self.runtime, household_id=household, address="1 Road")
        invite = await households.invite(self.runtime, household_id=household, expires_in_hours=1)
        await households.accept(
            self.runtime, code=invite.code, customer_id=member, address="1 road", actor="p"
        )

    async def check(self) -> None:
        async with self.runtime.db.read() as session:
            stored = await rows.lock(session, self.people)
            fresh = await projection.compute(session, self.runtime.catalog, self.people)
            for person in self.people:
                assert stored[person].value == fresh[person], (
                    person,
                    stored[person],
                    fresh[person],
                )
            counts = dict(
                (
                    await session.execute(
                        select(HouseholdMember.household_id, func.count())
                        .where(HouseholdMember.left_at.is_(None))
                        .group_by(HouseholdMember.household_id)
                    )
                ).all()
            )
            for row in await session.scalars(select(Household).where(Household.status == "active")):
                assert row.seats_used == counts.get(row.id, 0) <= row.seats_limit


async def scenario(url: str, ops: list[tuple[Any, ...]]) -> None:
    database = Database(url)
    try:
        runtime = runtime_for(database)
        clock = await accounts.create_test_clock(
            runtime, frozen_time=datetime(2025, 1, 31, 10, tzinfo=UTC), name="prop"
        )
        people = [
            (
                await accounts.create_customer(
                    runtime,
                    external_id=f"prop-{clock.id}-{i}",
                    email="p@example.com",
                    market="SE",
                    test_clock_id=clock.id,
                )
            ).id
            for i in range(PEOPLE)
        ]
        world = World(runtime, clock.id, people)
        await world.check()
        for op in ops:
            with contextlib.suppress(DomainError):
                await world.run(op)
            await world.check()
    finally:
        await database.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(step, min_size=1, max_size=25))
def test_the_projection_always_equals_a_fresh_computation(
    database_url: str, ops: list[tuple[Any, ...]]
) -> None:
    asyncio.run(scenario(database_url, ops))


@pytest.mark.parametrize("seed", [0])
def test_a_household_lifecycle_keeps_the_projection_exact(database_url: str, seed: int) -> None:
    ops: list[tuple[Any, ...]] = [
        ("subscribe", 0, "premium_family_monthly", False, "pm_card_fails_after_first"),
        ("subscribe", 1, "premium_individual_monthly", False, "pm_card_visa"),
        ("join", 0, 1),
        ("join", 0, 2),
        ("grant", 2, "premium_student", 3),
        ("advance", 31),
        ("leave", 2),
        ("advance", 8),
        ("subscribe", 3, "premium_duo_monthly", True, "pm_card_visa"),
        ("join", 3, 2),
        ("change", 3, "premium_individual_monthly", "now"),
        ("advance", 40),
    ]
    asyncio.run(scenario(database_url, ops))
