"""``/v1/me``: one end user acting for themselves from a client app, with their identity
provider's token (never an API key). The customer is always the token's subject: no route
here takes a customer, subscription or invoice id, and no body may name one (unknown fields
are refused), so a token can never reach another listener's objects."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery, JSONBody

from tenure.api.authz import principal_of
from tenure.api.deps import RuntimeDep, page, page_limit
from tenure.api.openapi import problems
from tenure.api.resources.accounts import CustomerDetail
from tenure.api.resources.catalog import PlanList, plan_list_of
from tenure.api.resources.invoices import InvoiceList, invoice_of
from tenure.api.resources.payment_methods import (
    PaymentMethodAttached,
    PaymentMethodList,
    attached_of,
    payment_method_list_of,
)
from tenure.api.resources.subscriptions import (
    SubscriptionChanged,
    SubscriptionCreated,
    SubscriptionDetail,
    subscription_changed_of,
    subscription_created_of,
)
from tenure.api.routes.accounts import CustomerController
from tenure.api.routes.entitlements import _READ as READ_RESPONSES
from tenure.api.routes.entitlements import respond
from tenure.api.routes.payment_methods import no_card_numbers
from tenure.api.routes.subscriptions import (
    _PAUSE_REFUSED,
    cancel_reason_of,
    pause_request_of,
)
from tenure.api.routes.subscriptions import _detail as subscription_detail
from tenure.api.schemas import (
    CancelComment,
    CancelReasonCode,
    Code,
    Empty,
    Id,
    PauseSubscription,
    Short,
)
from tenure.billing import service as invoices
from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.flows import change_plan, manage, pause
from tenure.flows import entitlements as reads
from tenure.flows import payment_methods as method_flows
from tenure.flows.payment_methods import token_for_subscribe
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import Offers, purchasable_plan, subscribe
from tenure.kernel.errors import Unauthorized
from tenure.subscriptions import offers
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import LIVE_STATUSES


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


class MySubscribe(_Body):
    plan: Id
    payment_method: Id | None = None  # a provider token, or one of my stored methods
    trial: bool = False
    intro_offer: bool = False
    promo_code: Code | None = None


class MyChange(_Body):
    plan: Id
    at: Short | None = None  # "now" | "period_end"


class MyCancel(_Body):
    at_period_end: bool = True
    reason: CancelReasonCode | None = None  # docs/retention.md: the fixed list
    comment: CancelComment | None = None  # the listener's own words (<= 500 characters)


class MyPaymentMethod(_Body):
    payment_method: Id  # a provider token from the client SDK, never a card number
    default: bool = False


async def _me(request: Request[Any, Any, Any], runtime: Runtime) -> Customer:
    principal = principal_of(request)
    if principal is None or principal.kind != "user":  # the guard already refused others
        raise Unauthorized("an end user's token is required", code="invalid_token")
    async with runtime.db.read() as session:
        return await customers.get_by_external_id(session, principal.id)


def _actor(me: Customer) -> str:
    """``user:cus_…``: the customer id, not the token's subject, so no personal identifier
    lands in history or the append-only audit log (the subject may be an email)."""
    return f"user:{me.id}"


async def _my_subscription(runtime: Runtime, customer_id: str) -> str:
    """My live web subscription, else my latest one; 404 when I never subscribed."""
    async with runtime.db.read() as session:
        found = await subs.load(
            session,
            Subscription.customer_id == customer_id,
            order_by=[Subscription.id.desc()],
            limit=50,
        )
    live = [sub for sub in found if sub.state in LIVE_STATUSES and sub.channel == "web"]
    chosen = live[0] if live else (found[0] if found else None)
    if chosen is None:
        raise manage.SubscriptionNotFound("you have no subscription")
    return chosen.id


_NO_SUB = (404, "customer_not_found subscription_not_found")
_RESUME_REFUSED = "subscription_not_paused subscription_canceling pause_too_short managed_by_store"


class MeController(Controller):
    path = "/v1/me"
    tags = ["me"]

    @get("/", summary="Me: my customer record", responses=problems((404, "customer_not_found")))
    async def read(self, request: Request[Any, Any, Any], runtime: RuntimeDep) -> CustomerDetail:
        me = await _me(request, runtime)
        return await CustomerController._detail(runtime, me.id)

    @get("/plans", summary="Plans I can buy, with the offers I may still use")
    async def plans(self, request: Request[Any, Any, Any], runtime: RuntimeDep) -> PlanList:
        me = await _me(request, runtime)
        async with runtime.db.read() as session:
            used = await offers.used_by(session, me.id)
        market = runtime.catalog.market(me.market)
        return plan_list_of(runtime.catalog, market, me.id, used)

    @get("/subscription", summary="My subscription", responses=problems(_NO_SUB))
    async def subscription(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep
    ) -> SubscriptionDetail:
        me = await _me(request, runtime)
        return await subscription_detail(runtime, await _my_subscription(runtime, me.id))

    @post(
        "/subscription",
        status_code=201,
        summary="Subscribe me to a plan",
        before_request=no_card_numbers,
        responses=problems(
            (404, "customer_not_found payment_method_not_found promo_code_not_found"),
            (409, "subscription_exists trial_already_used intro_offer_already_used"),
            (422, "unknown_plan plan_unavailable_in_market plan_not_purchasable"),
        ),
    )
    async def subscribe(
        self, request: Request[Any, Any, Any], data: JSONBody[MySubscribe], runtime: RuntimeDep
    ) -> SubscriptionCreated:
        me = await _me(request, runtime)
        purchasable_plan(runtime, data.plan)
        token = await token_for_subscribe(
            runtime, customer_id=me.id, payment_method=data.payment_method
        )
        result = await subscribe(
            runtime,
            customer_id=me.id,
            plan_id=data.plan,
            payment_method=token,
            trial=data.trial,
            actor=_actor(me),
            offers=Offers(promo_code=data.promo_code, intro=data.intro_offer),
            metadata={},
        )
        detail = await subscription_detail(runtime, result.subscription_id)
        return subscription_created_of(detail, result.invoice_id, result.payment)

    @post(
        "/subscription/change",
        status_code=200,
        summary="Change my plan",
        responses=problems(402, _NO_SUB, (409, "plan_unchanged"), (422, "unknown_plan")),
    )
    async def change(
        self, request: Request[Any, Any, Any], data: JSONBody[MyChange], runtime: RuntimeDep
    ) -> SubscriptionChanged:
        me = await _me(request, runtime)
        sub_id = await _my_subscription(runtime, me.id)
        result = await change_plan.change(
            runtime, subscription_id=sub_id, plan_id=data.plan, at=data.at, actor=_actor(me)
        )
        detail = await subscription_detail(runtime, sub_id)
        return subscription_changed_of(detail, result.invoice_id, result.quote)

    @post(
        "/subscription/cancel",
        status_code=200,
        summary="Cancel my subscription (at period end unless told otherwise)",
        responses=problems(_NO_SUB, (409, "subscription_already_canceling")),
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        data: JSONBody[MyCancel | None] = None,
    ) -> SubscriptionDetail:
        me = await _me(request, runtime)
        body = data or MyCancel()
        reason, comment = cancel_reason_of(body.reason, body.comment)
        sub_id = await _my_subscription(runtime, me.id)
        await manage.cancel(
            runtime,
            subscription_id=sub_id,
            at_period_end=body.at_period_end,
            actor=_actor(me),
            reason=reason,
            comment=comment,
        )
        return await subscription_detail(runtime, sub_id)

    @post(
        "/subscription/pause",
        status_code=200,
        summary="Pause my subscription from the period end (or now), until a date or for n periods",
        before_request=no_card_numbers,
        responses=problems(
            _NO_SUB,
            (409, _PAUSE_REFUSED),
            (422, "invalid_pause pause_too_long invalid_timestamp"),
        ),
    )
    async def pause(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        data: JSONBody[PauseSubscription],
    ) -> SubscriptionDetail:
        """The same pause as ``POST /v1/subscriptions/{id}/pause``, on the caller's own
        subscription, within the catalog's limits (docs/retention.md)."""
        me = await _me(request, runtime)
        wanted = pause_request_of(data)
        sub_id = await _my_subscription(runtime, me.id)
        await pause.pause(
            runtime,
            subscription_id=sub_id,
            request=wanted,
            actor=_actor(me),
        )
        return await subscription_detail(runtime, sub_id)

    @post(
        "/subscription/resume",
        status_code=200,
        summary="End my pause now (billing starts today), or drop a scheduled one",
        responses=problems(
            _NO_SUB,
            (
                409,
                "subscription_not_paused subscription_canceling pause_too_short managed_by_store",
            ),
        ),
    )
    async def resume(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> SubscriptionDetail:
        me = await _me(request, runtime)
        sub_id = await _my_subscription(runtime, me.id)
        await pause.resume(runtime, subscription_id=sub_id, actor=_actor(me))
        return await subscription_detail(runtime, sub_id)

    @get("/invoices", summary="My invoices, newest first", responses=problems(404))
    async def invoices(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> InvoiceList:
        me = await _me(request, runtime)
        size = page_limit(limit)
        async with runtime.db.read() as session:
            rows = await invoices.search(
                session,
                customer_id=me.id,
                subscription_id=None,
                status=None,
                starting_after=starting_after,
                limit=size + 1,
            )
        data, has_more, after = page([invoice_of(row) for row in rows], size)
        return InvoiceList(object="list", data=data, has_more=has_more, next=after)

    @get("/payment_methods", summary="My payment methods", responses=problems(404))
    async def payment_methods(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep
    ) -> PaymentMethodList:
        me = await _me(request, runtime)
        return payment_method_list_of(await method_flows.list_for(runtime, me.id))

    @post(
        "/payment_methods",
        status_code=201,
        summary="Add a payment method (a provider token from the client SDK)",
        before_request=no_card_numbers,
        responses=problems((404, "customer_not_found"), (422, "unknown_payment_method")),
    )
    async def add_payment_method(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[MyPaymentMethod],
        runtime: RuntimeDep,
    ) -> PaymentMethodAttached:
        me = await _me(request, runtime)
        result = await method_flows.attach(
            runtime,
            customer_id=me.id,
            token=data.payment_method,
            default=data.default,
            actor=_actor(me),
            provider_customer=None,
        )
        return attached_of(result.method, result.retry)

    @get(
        "/entitlements",
        summary="What I may do right now",
        responses={**READ_RESPONSES, **problems((404, "customer_not_found"))},
    )
    async def entitlements(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep
    ) -> Response[bytes]:
        me = await _me(request, runtime)
        return respond(request, await reads.one(runtime, customer_id=me.id))
