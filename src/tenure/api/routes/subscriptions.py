"""Subscriptions: subscribe, read, list, cancel, reactivate, history."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from tenure.api import views
from tenure.api.deps import RuntimeDep, actor_of, check_id, page, page_limit
from tenure.api.routes.households import household_ref
from tenure.api.routes.payment_methods import no_card_numbers
from tenure.api.schemas import (
    ApplyPromoCode,
    CancelSubscription,
    ChangePlan,
    CreateSubscription,
    Empty,
)
from tenure.flows import change_plan, manage, promotions
from tenure.flows.payment_methods import token_for_subscribe
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import Offers, describe_payment, purchasable_plan, subscribe
from tenure.households import service as households
from tenure.kernel.clock import rfc3339
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription, SubscriptionHistory


async def _view(runtime: Runtime, subscription_id: str) -> dict[str, Any]:
    async with runtime.db.read() as session:
        sub = await subs.load_one(session, subscription_id, for_update=False)
        household = await households.active_by_subscription(session, subscription_id)
    if sub is None:
        raise manage.SubscriptionNotFound(f"no subscription {subscription_id!r}")
    body = views.subscription(sub)
    body["household"] = household_ref(household)
    return body


class SubscriptionController(Controller):
    path = "/v1/subscriptions"
    tags = ["subscriptions"]

    @post(
        "/",
        status_code=201,
        summary="Subscribe a customer to a plan",
        before_request=no_card_numbers,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateSubscription],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        """Without a trial the first period is charged at once; if that fails the subscription
        is ``incomplete`` (see ``last_payment_error``) until its invoice is paid."""
        check_id(data.customer, "cus", "customer")
        purchasable_plan(runtime, data.plan)  # refused before any payment method is stored
        token = await token_for_subscribe(
            runtime, customer_id=data.customer, payment_method=data.payment_method
        )
        result = await subscribe(
            runtime,
            customer_id=data.customer,
            plan_id=data.plan,
            payment_method=token,
            trial=data.trial,
            actor=actor_of(request),
            offers=Offers(promo_code=data.promo_code, intro=data.intro_offer),
        )
        body = await _view(runtime, result.subscription_id)
        body["latest_invoice"] = result.invoice_id
        payment = describe_payment(result.payment)
        body["last_payment_error"] = (
            payment if payment and payment["status"] != "succeeded" else None
        )
        return body

    @get("/", summary="List subscriptions")
    async def list_(
        self,
        runtime: RuntimeDep,
        customer: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        size = page_limit(limit)
        conditions = []
        if customer is not None:
            conditions.append(Subscription.customer_id == customer)
        if status is not None:
            conditions.append(Subscription.status == status)
        if starting_after is not None:
            conditions.append(Subscription.id > starting_after)
        async with runtime.db.read() as session:
            rows = await subs.load(session, *conditions, order_by=[Subscription.id], limit=size + 1)
        return page([views.subscription(row) for row in rows], size)

    @get("/{subscription_id:str}", summary="Get a subscription")
    async def read(self, subscription_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(subscription_id, "sub", "subscription")
        return await _view(runtime, subscription_id)

    @get("/{subscription_id:str}/history", summary="Every status change: when, from, to, why, who")
    async def history(self, subscription_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(subscription_id, "sub", "subscription")
        await _view(runtime, subscription_id)
        async with runtime.db.read() as session:
            rows = (
                await session.scalars(
                    select(SubscriptionHistory)
                    .where(SubscriptionHistory.subscription_id == subscription_id)
                    .order_by(SubscriptionHistory.pk)
                )
            ).all()
        return {
            "object": "list",
            "data": [
                {
                    "at": rfc3339(row.at),
                    "from": row.from_status,
                    "to": row.to_status,
                    "action": row.action,
                    "reason": row.reason,
                    "actor": row.actor,
                }
                for row in rows
            ],
            "has_more": False,
            "next": None,
        }

    @post("/{subscription_id:str}/cancel", status_code=200, summary="Cancel now or at period end")
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[CancelSubscription | None] = None,
    ) -> dict[str, Any]:
        check_id(subscription_id, "sub", "subscription")
        at_period_end = True if data is None else data.at_period_end
        await manage.cancel(
            runtime,
            subscription_id=subscription_id,
            at_period_end=at_period_end,
            actor=actor_of(request),
        )
        return await _view(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/reactivate", status_code=200, summary="Undo a cancel at period end"
    )
    async def reactivate(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> dict[str, Any]:
        check_id(subscription_id, "sub", "subscription")
        await manage.reactivate(runtime, subscription_id=subscription_id, actor=actor_of(request))
        return await _view(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/change_preview",
        status_code=200,
        summary="What a plan change would cost, changing nothing",
    )
    async def change_preview(
        self, subscription_id: FromPath[str], data: JSONBody[ChangePlan], runtime: RuntimeDep
    ) -> dict[str, Any]:
        check_id(subscription_id, "sub", "subscription")
        prepared, money = await change_plan.preview(
            runtime,
            subscription_id=subscription_id,
            plan_id=data.plan,
            at=data.at,
            remove_members=data.remove_members,
        )
        return views.change_preview(
            prepared.sub, prepared.plan.id, prepared.quote, prepared.draft, money
        )

    @post("/{subscription_id:str}/change", status_code=200, summary="Change the plan")
    async def change(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        data: JSONBody[ChangePlan],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        """Upgrades apply now and charge the prorated difference (402 if declined, nothing
        changes); downgrades wait for the period end (see ``pending_change``)."""
        check_id(subscription_id, "sub", "subscription")
        result = await change_plan.change(
            runtime,
            subscription_id=subscription_id,
            plan_id=data.plan,
            at=data.at,
            actor=actor_of(request),
            remove_members=data.remove_members,
        )
        body = await _view(runtime, subscription_id)
        body["latest_invoice"] = result.invoice_id
        body["change"] = {
            "type": result.quote.type.value,
            "timing": result.quote.timing.value,
            "effective_at": views.ts(result.quote.effective_at),
        }
        return body

    @delete(
        "/{subscription_id:str}/pending_change",
        status_code=200,
        summary="Cancel a plan change scheduled for the period end",
    )
    async def cancel_pending_change(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        check_id(subscription_id, "sub", "subscription")
        await change_plan.cancel_pending(
            runtime, subscription_id=subscription_id, actor=actor_of(request)
        )
        return await _view(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/promo_code",
        status_code=200,
        summary="Apply a promo code to the next invoices",
    )
    async def apply_promo_code(
        self,
        subscription_id: FromPath[str],
        data: JSONBody[ApplyPromoCode],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        check_id(subscription_id, "sub", "subscription")
        await promotions.apply_to_subscription(
            runtime, subscription_id=subscription_id, code=data.code
        )
        return await _view(runtime, subscription_id)
