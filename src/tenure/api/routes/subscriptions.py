"""Subscriptions: subscribe, read, list, cancel, reactivate, history, plan changes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.exceptions import ServiceUnavailableException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.serialization import encode_json
from sqlalchemy import select

from tenure.access.idempotency import CLAIM, KeyTaken
from tenure.api.deps import (
    RuntimeDep,
    acting,
    actor_of,
    check_id,
    one_of,
    page,
    page_limit,
    parse_time,
)
from tenure.api.openapi import problems
from tenure.api.resources.subscriptions import (
    PlanChangePreview,
    SubscriptionChanged,
    SubscriptionCreated,
    SubscriptionDetail,
    SubscriptionHistoryList,
    SubscriptionList,
    TrialEnded,
    change_preview_of,
    history_of,
    subscription_changed_of,
    subscription_created_of,
    subscription_detail_of,
    subscription_of,
    trial_ended_of,
)
from tenure.api.routes.payment_methods import no_card_numbers
from tenure.api.schemas import (
    AddItem,
    ApplyPromoCode,
    CancelSubscription,
    ChangePlan,
    CreateSubscription,
    Empty,
    ExtendSubscription,
    PauseSubscription,
    UpdateMetadata,
)
from tenure.dunning import cases
from tenure.flows import addons, change_plan, manage, pause, prepaid, promotions, trials
from tenure.flows.collect import Outcome
from tenure.flows.payment_methods import stored_for_subscribe
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import Checkout, Offers, card_optional, purchasable_plan, subscribe
from tenure.households import service as households
from tenure.households.records import HouseholdRecord
from tenure.kernel.errors import InvalidRequest
from tenure.subscriptions import items as item_rows
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription, SubscriptionHistory
from tenure.subscriptions.record import CancelReason
from tenure.subscriptions.state import Status

_NOT_FOUND = (404, "subscription_not_found")
_PAUSE_REFUSED = (
    "subscription_already_paused pause_already_scheduled subscription_canceling payment_pending "
    "pause_not_allowed pause_limit_reached managed_by_store subscription_illegal_transition"
)
_ILLEGAL = "subscription_illegal_transition"
_CHANGE_REFUSED = (
    "plan_unchanged subscription_has_billing_issue subscription_not_active plan_unavailable "
    "household_has_members addon_not_available"
)
_CHANGE_INVALID = (
    "unknown_plan plan_unavailable_in_market plan_not_purchasable invalid_change_timing"
)


class _Answer:
    """Renders the answer to a subscribe from what the flow wrote, for the flow to store with
    the Idempotency-Key in its last transaction; the route then returns that very struct,
    which Litestar encodes with the same encoder into the same bytes. A new subscription has
    no billing issue and no add-ons yet."""

    def __init__(self) -> None:
        self.created: SubscriptionCreated | None = None

    def __call__(
        self,
        sub: subs.Sub,
        household: HouseholdRecord | None,
        invoice_id: str | None,
        payment: Outcome | None,
    ) -> bytes:
        detail = subscription_detail_of(sub, household)
        self.created = subscription_created_of(detail, invoice_id, payment)
        return encode_json(self.created)


def cancel_reason_of(
    reason: str | None, comment: str | None
) -> tuple[CancelReason | None, str | None]:
    """A cancel's reason and the customer's words, checked and normalized (a comment needs a
    reason; a blank comment is none)."""
    if comment is not None and reason is None:
        raise InvalidRequest(
            'a comment goes with a reason; use "other" if none fits',
            code="invalid_cancel_reason",
        )
    words = comment.strip() or None if comment is not None else None
    return (None if reason is None else CancelReason(reason)), words


def pause_request_of(data: PauseSubscription) -> pause.PauseRequest:
    """The pause a body asks for: exactly one of ``resumes_at`` or ``periods``."""
    if (data.resumes_at is None) == (data.periods is None):
        raise InvalidRequest("give exactly one of resumes_at or periods", code="invalid_pause")
    resumes_at = parse_time(data.resumes_at, "resumes_at") if data.resumes_at else None
    return pause.PauseRequest(resumes_at, data.periods, data.start)


async def _detail(runtime: Runtime, subscription_id: str) -> SubscriptionDetail:
    async with runtime.db.read() as session:
        sub = await subs.load_one(session, subscription_id, for_update=False)
        household = await households.active_by_subscription(session, subscription_id)
        case = (await cases.open_cases(session, [subscription_id])).get(subscription_id)
        attached = (await item_rows.attached(session, [subscription_id])).get(subscription_id, [])
    if sub is None:
        raise manage.SubscriptionNotFound(f"no subscription {subscription_id!r}")
    return subscription_detail_of(sub, household, case, attached)


class SubscriptionController(Controller):
    path = "/v1/subscriptions"
    tags = ["subscriptions"]

    @post(
        "/",
        status_code=201,
        summary="Subscribe a customer to a plan",
        before_request=no_card_numbers,
        responses=problems(
            (
                404,
                "customer_not_found payment_method_not_found promo_code_not_found offer_not_found",
            ),
            (
                409,
                "subscription_exists trial_already_used intro_offer_already_used "
                "promo_code_already_used promo_code_exhausted offer_not_eligible",
            ),
            (
                422,
                "unknown_plan plan_unavailable_in_market plan_not_purchasable "
                "unknown_payment_method trial_not_offered intro_offer_not_offered "
                "offers_not_combinable invalid_promo_code card_number_not_accepted "
                "payment_method_required invalid_trial_end invalid_timestamp "
                "invalid_billing_anchor billing_anchor_not_combinable invalid_start_at",
            ),
        ),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateSubscription],
        runtime: RuntimeDep,
    ) -> SubscriptionCreated:
        """Without a trial the first period is charged at once; if that fails the subscription
        is ``incomplete`` (see ``last_payment_error``) until its invoice is paid. With
        ``start_at`` it is ``scheduled`` and nothing is charged until it starts."""
        check_id(data.customer, "cus", "customer")
        purchasable_plan(runtime, data.plan)  # refused before any payment method is stored
        trial_end = None if data.trial_end is None else parse_time(data.trial_end, "trial_end")
        trial = data.trial or trial_end is not None
        start_at = None if data.start_at is None else parse_time(data.start_at, "start_at")
        anchor = data.billing_anchor
        billing_anchor = parse_time(anchor, "billing_anchor") if isinstance(anchor, str) else anchor
        optional = await card_optional(
            runtime, customer_id=data.customer, plan_id=data.plan, trial=trial
        )
        stored = await stored_for_subscribe(
            runtime, customer_id=data.customer, payment_method=data.payment_method
        )
        claim = request.scope.get("state", {}).get(CLAIM)
        answer = _Answer()
        try:
            result = await subscribe(
                runtime,
                customer_id=data.customer,
                plan_id=data.plan,
                payment_method=data.payment_method,
                trial=trial,
                actor=actor_of(request),
                offers=Offers(
                    promo_code=data.promo_code, intro=data.intro_offer, winback=data.offer
                ),
                metadata=data.metadata,
                trial_end=trial_end,
                billing_anchor=billing_anchor,
                start_at=start_at,
                checkout=Checkout(optional, stored, claim, answer),
            )
        except KeyTaken:
            # The gate answers from the key's record instead; this is never sent.
            raise ServiceUnavailableException("idempotency key taken") from None
        if result.answer is not None and answer.created is not None:
            return answer.created  # stored with the key as it is sent
        detail = await _detail(runtime, result.subscription_id)
        return subscription_created_of(detail, result.invoice_id, result.payment)

    @get("/", summary="List subscriptions", responses=problems((422, "invalid_limit")))
    async def list_(
        self,
        runtime: RuntimeDep,
        customer: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> SubscriptionList:
        size = page_limit(limit)
        one_of(status, (s.value for s in Status), "status")
        conditions = []
        if customer is not None:
            conditions.append(Subscription.customer_id == customer)
        if status is not None:
            conditions.append(Subscription.status == status)
        if starting_after is not None:
            conditions.append(Subscription.id > starting_after)
        async with runtime.db.read() as session:
            rows = await subs.load(session, *conditions, order_by=[Subscription.id], limit=size + 1)
        data, has_more, after = page([subscription_of(row) for row in rows], size)
        return SubscriptionList(object="list", data=data, has_more=has_more, next=after)

    @post(
        "/{subscription_id:str}",
        status_code=200,
        summary="Update a subscription's metadata",
        responses=problems(_NOT_FOUND, (422, "invalid_metadata")),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        data: JSONBody[UpdateMetadata],
        runtime: RuntimeDep,
    ) -> SubscriptionDetail:
        """``metadata`` is merged into what is stored; a key set to "" is removed."""
        check_id(subscription_id, "sub", "subscription")
        await manage.update_subscription(
            runtime,
            subscription_id=subscription_id,
            metadata=data.metadata,
            actor=actor_of(request),
        )
        return await _detail(runtime, subscription_id)

    @get("/{subscription_id:str}", summary="Get a subscription", responses=problems(_NOT_FOUND))
    async def read(self, subscription_id: FromPath[str], runtime: RuntimeDep) -> SubscriptionDetail:
        check_id(subscription_id, "sub", "subscription")
        return await _detail(runtime, subscription_id)

    @get(
        "/{subscription_id:str}/history",
        summary="Every status change: when, from, to, why, who",
        responses=problems(_NOT_FOUND),
    )
    async def history(
        self, subscription_id: FromPath[str], runtime: RuntimeDep
    ) -> SubscriptionHistoryList:
        check_id(subscription_id, "sub", "subscription")
        await _detail(runtime, subscription_id)
        async with runtime.db.read() as session:
            rows = (
                await session.scalars(
                    select(SubscriptionHistory)
                    .where(SubscriptionHistory.subscription_id == subscription_id)
                    .order_by(SubscriptionHistory.pk)
                )
            ).all()
        return history_of(rows)

    @post(
        "/{subscription_id:str}/cancel",
        status_code=200,
        summary="Cancel now or at period end, with the customer's reason",
        before_request=no_card_numbers,
        responses=problems(
            _NOT_FOUND,
            (409, f"subscription_already_canceling {_ILLEGAL}"),
            (422, "invalid_cancel_reason card_number_not_accepted reason_required"),
        ),
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[CancelSubscription | None] = None,
    ) -> SubscriptionDetail:
        """``reason`` is one of a fixed list, ``comment`` the customer's own words (at most 500
        characters; a card number is refused). Both are kept on the subscription
        (``cancellation``) and carried in its events until a reactivate."""
        check_id(subscription_id, "sub", "subscription")
        body = data or CancelSubscription()
        reason, comment = cancel_reason_of(body.reason, body.comment)
        # A person cancelling on someone's behalf (a role key) must say why: the customer's
        # reason (and their words) is the audit record's reason.
        said = None if reason is None else reason.value
        if said is not None and comment:
            said = f"{said}: {comment}"
        acting(request, said, "cancelling on someone's behalf")
        await manage.cancel(
            runtime,
            subscription_id=subscription_id,
            at_period_end=body.at_period_end,
            actor=actor_of(request),
            reason=reason,
            comment=comment,
        )
        return await _detail(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/reactivate",
        status_code=200,
        summary="Undo a cancel at period end",
        responses=problems(_NOT_FOUND, (409, f"subscription_not_canceling {_ILLEGAL}")),
    )
    async def reactivate(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> SubscriptionDetail:
        check_id(subscription_id, "sub", "subscription")
        await manage.reactivate(runtime, subscription_id=subscription_id, actor=actor_of(request))
        return await _detail(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/end_trial",
        status_code=200,
        summary="End a trial now and charge the first period",
        responses=problems(
            _NOT_FOUND,
            (409, f"subscription_not_trialing subscription_already_canceling {_ILLEGAL}"),
            (422, "payment_method_required"),
        ),
    )
    async def end_trial(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> TrialEnded:
        """The first paid period starts now and anchors the billing day; a declined charge
        leaves the subscription ``past_due`` as at a trial's scheduled end."""
        check_id(subscription_id, "sub", "subscription")
        result = await trials.end_trial(
            runtime, subscription_id=subscription_id, actor=actor_of(request)
        )
        detail = await _detail(runtime, subscription_id)
        return trial_ended_of(detail, result.invoice_id, result.payment)

    @post(
        "/{subscription_id:str}/extend",
        status_code=200,
        summary="Buy more time for a prepaid subscription",
        responses=problems(
            402,
            _NOT_FOUND,
            (
                409,
                "subscription_not_prepaid subscription_not_active payment_in_progress "
                "payment_pending managed_by_store",
            ),
            (422, "unknown_plan plan_not_extendable"),
        ),
    )
    async def extend(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        data: JSONBody[ExtendSubscription],
        runtime: RuntimeDep,
    ) -> SubscriptionCreated:
        """Charges the plan's price now and adds its period after the current end (402 if
        declined, nothing changes)."""
        check_id(subscription_id, "sub", "subscription")
        result = await prepaid.extend(
            runtime, subscription_id=subscription_id, plan_id=data.plan, actor=actor_of(request)
        )
        detail = await _detail(runtime, subscription_id)
        return subscription_created_of(detail, result.invoice_id, None)

    @post(
        "/{subscription_id:str}/items",
        status_code=201,
        summary="Attach an add-on (its price for the rest of the period is charged now)",
        responses=problems(
            402,
            _NOT_FOUND,
            (
                409,
                "subscription_not_active addon_already_attached addon_removed_this_period "
                "payment_pending managed_by_store",
            ),
            (
                422,
                "unknown_plan plan_not_an_addon addon_interval_mismatch plan_unavailable_in_market",
            ),
        ),
    )
    async def add_item(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        data: JSONBody[AddItem],
        runtime: RuntimeDep,
    ) -> SubscriptionCreated:
        check_id(subscription_id, "sub", "subscription")
        result = await addons.add_item(
            runtime, subscription_id=subscription_id, plan_id=data.plan, actor=actor_of(request)
        )
        detail = await _detail(runtime, subscription_id)
        return subscription_created_of(detail, result.invoice_id, None)

    @delete(
        "/{subscription_id:str}/items/{item_id:str}",
        status_code=200,
        summary="Remove an add-on now (the unused part of its price goes to the balance)",
        responses=problems(
            (404, "subscription_not_found subscription_item_not_found"),
            (409, "payment_in_progress managed_by_store"),
        ),
    )
    async def remove_item(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        item_id: FromPath[str],
        runtime: RuntimeDep,
    ) -> SubscriptionCreated:
        check_id(subscription_id, "sub", "subscription")
        check_id(item_id, "si", "subscription item")
        result = await addons.remove_item(
            runtime, subscription_id=subscription_id, item_id=item_id, actor=actor_of(request)
        )
        detail = await _detail(runtime, subscription_id)
        return subscription_created_of(detail, result.invoice_id, None)

    @post(
        "/{subscription_id:str}/change_preview",
        status_code=200,
        summary="What a plan change would cost, changing nothing",
        responses=problems(_NOT_FOUND, (409, _CHANGE_REFUSED), (422, _CHANGE_INVALID)),
    )
    async def change_preview(
        self, subscription_id: FromPath[str], data: JSONBody[ChangePlan], runtime: RuntimeDep
    ) -> PlanChangePreview:
        check_id(subscription_id, "sub", "subscription")
        prepared, money = await change_plan.preview(
            runtime,
            subscription_id=subscription_id,
            plan_id=data.plan,
            at=data.at,
            remove_members=data.remove_members,
        )
        return change_preview_of(
            prepared.sub, prepared.plan.id, prepared.quote, prepared.draft, money
        )

    @post(
        "/{subscription_id:str}/change",
        status_code=200,
        summary="Change the plan",
        responses=problems(
            402,
            _NOT_FOUND,
            (409, f"{_CHANGE_REFUSED} payment_pending {_ILLEGAL}"),
            (422, _CHANGE_INVALID),
        ),
    )
    async def change(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        data: JSONBody[ChangePlan],
        runtime: RuntimeDep,
    ) -> SubscriptionChanged:
        """Upgrades apply now and charge the prorated difference (402 if declined, nothing
        changes); downgrades wait for the period end (see ``pending_change``)."""
        check_id(subscription_id, "sub", "subscription")
        acting(request, data.reason, "a plan change on someone's behalf")
        result = await change_plan.change(
            runtime,
            subscription_id=subscription_id,
            plan_id=data.plan,
            at=data.at,
            actor=actor_of(request),
            remove_members=data.remove_members,
        )
        detail = await _detail(runtime, subscription_id)
        return subscription_changed_of(detail, result.invoice_id, result.quote)

    @delete(
        "/{subscription_id:str}/pending_change",
        status_code=200,
        summary="Cancel a plan change scheduled for the period end",
        responses=problems((404, "subscription_not_found no_pending_change")),
    )
    async def cancel_pending_change(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
    ) -> SubscriptionDetail:
        check_id(subscription_id, "sub", "subscription")
        await change_plan.cancel_pending(
            runtime, subscription_id=subscription_id, actor=actor_of(request)
        )
        return await _detail(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/promo_code",
        status_code=200,
        summary="Apply a promo code to the next invoices",
        responses=problems(
            (404, "subscription_not_found promo_code_not_found"),
            (409, "subscription_not_active promo_code_already_used promo_code_exhausted"),
            (422, "invalid_promo_code"),
        ),
    )
    async def apply_promo_code(
        self,
        subscription_id: FromPath[str],
        data: JSONBody[ApplyPromoCode],
        runtime: RuntimeDep,
    ) -> SubscriptionDetail:
        check_id(subscription_id, "sub", "subscription")
        await promotions.apply_to_subscription(
            runtime, subscription_id=subscription_id, code=data.code
        )
        return await _detail(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/pause",
        status_code=200,
        summary="Pause from the period end (or now), until resumes_at or for n periods",
        responses=problems(
            _NOT_FOUND,
            (409, _PAUSE_REFUSED),
            (422, "invalid_pause pause_too_long invalid_timestamp"),
        ),
    )
    async def pause(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        data: JSONBody[PauseSubscription],
        runtime: RuntimeDep,
    ) -> SubscriptionDetail:
        """No access (the Free tier) and no invoices while paused; at ``resumes_at`` the
        subscription resumes and bills from that day, which becomes its billing anchor. Limits
        (longest pause, how often, yearly plans, starting now) are the catalog's
        (docs/retention.md)."""
        check_id(subscription_id, "sub", "subscription")
        await pause.pause(
            runtime,
            subscription_id=subscription_id,
            request=pause_request_of(data),
            actor=actor_of(request),
        )
        return await _detail(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/resume",
        status_code=200,
        summary="End a pause now (billing starts today), or drop a scheduled one",
        responses=problems(
            _NOT_FOUND,
            (
                409,
                "subscription_not_paused subscription_canceling pause_too_short managed_by_store",
            ),
        ),
    )
    async def resume(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> SubscriptionDetail:
        check_id(subscription_id, "sub", "subscription")
        await pause.resume(runtime, subscription_id=subscription_id, actor=actor_of(request))
        return await _detail(runtime, subscription_id)
