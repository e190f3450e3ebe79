"""``tenure check`` (every invariant) is clean after the lifecycle scenarios of issue 12."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tenure.ops.invariants import run_checks
from tests.http import test_lifecycle_billing_day as billing_day
from tests.http import test_lifecycle_scheduled as scheduled
from tests.http import test_lifecycle_trials as trials
from tests.http.test_trials import event_types
from tests.support.api import Api
from tests.support.catalogs import api_with_catalog, variant


async def assert_clean(api: Api) -> None:
    runtime = api.client.app.state.runtime
    portal = api.client.blocking_portal
    assert portal is not None
    results = await asyncio.to_thread(portal.call, run_checks, runtime)
    failed = [(r.check, r.violations[:3]) for r in results if not r.ok]
    assert not failed


async def test_check_is_clean_after_trials_billing_days_and_scheduled_starts(api: Api) -> None:
    await trials.test_a_card_less_trial_ends_expired_without_payment_and_bills_nothing(api)
    await trials.test_end_trial_charges_now_and_anchors_the_billing_day_on_the_day_it_ended(api)
    await trials.test_end_trial_of_a_card_less_trial_needs_a_card_and_changes_nothing(api)
    await billing_day.test_an_anchor_on_the_1st_prorates_the_first_period_by_whole_days(api)
    await scheduled.test_a_scheduled_subscription_starts_paid_when_its_time_comes(api)
    await scheduled.test_a_scheduled_subscription_is_canceled_before_it_starts_and_keeps_the_trial(
        api
    )
    await assert_clean(api)


async def test_a_scheduled_start_whose_plan_left_the_market_is_canceled(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    clock = await api.clock(scheduled.NOW)
    customer = await api.customer(clock, market="JP")
    sub = await api.ok(
        "POST",
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_student_annual",
            "payment_method": "pm_card_visa",
            "start_at": scheduled.START,
        },
    )
    path = variant(tmp_path, replace=('JP = "5800"\n', ""))
    async with api_with_catalog(database_url, path) as other:
        await other.advance(clock, scheduled.START)
        ended = await other.subscription(sub["id"])
        assert (ended["status"], ended["ended_reason"]) == ("canceled", "plan_unavailable")
        assert await other.invoices(customer) == []
        assert await event_types(other, sub["id"]) == [
            "subscription.created",
            "subscription.canceled",
        ]
        await assert_clean(other)
