"""Retention: save offers for a subscription about to be canceled (docs/retention.md)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from tenure.api.deps import RuntimeDep, actor_of, check_id, parse_time
from tenure.api.openapi import problems
from tenure.api.resources.retention import (
    PriceChange,
    RetentionOfferList,
    price_change_of,
    retention_offer_list_of,
)
from tenure.api.resources.subscriptions import SubscriptionDetail
from tenure.api.routes.subscriptions import _detail
from tenure.api.schemas import CreatePriceChange, Empty
from tenure.flows import price_changes, save_offers
from tenure.kernel.errors import InvalidRequest

_OFFER_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_NOT_FOUND = (404, "subscription_not_found offer_not_found")


def _check_offer_id(offer_id: str) -> None:
    if not 2 <= len(offer_id) <= 64 or not set(offer_id) <= _OFFER_ID_CHARS:
        raise InvalidRequest(f"{offer_id[:64]!r} is not an offer id", code="invalid_offer_id")


class RetentionController(Controller):
    path = "/v1/subscriptions"
    tags = ["retention"]

    @get(
        "/{subscription_id:str}/retention_offers",
        summary="The save offers this subscription's customer may take now",
        responses=problems((404, "subscription_not_found"), (409, "managed_by_store")),
    )
    async def offers(
        self, request: Request[Any, Any, Any], subscription_id: FromPath[str], runtime: RuntimeDep
    ) -> RetentionOfferList:
        """Show these when the customer is about to cancel; answering records
        ``subscription.retention_offers_shown`` (when there are any), so the save rate can be
        computed from the events."""
        check_id(subscription_id, "sub", "subscription")
        found = await save_offers.show(
            runtime, subscription_id=subscription_id, actor=actor_of(request)
        )
        return retention_offer_list_of(runtime.catalog, found.sub, found.offers)

    @post(
        "/{subscription_id:str}/retention_offers/{offer_id:str}/accept",
        status_code=200,
        summary="Take a save offer, all or nothing",
        responses=problems(
            _NOT_FOUND, (409, "offer_not_eligible managed_by_store"), (422, "invalid_offer_id")
        ),
    )
    async def accept(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        offer_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> SubscriptionDetail:
        """409 ``offer_not_eligible`` with ``reason`` (``offer_already_used``,
        ``recent_offer``, ``tenure_too_short``, ``subscription_not_active``, ...) changes
        nothing. A subscription set to cancel is reactivated by taking an offer."""
        check_id(subscription_id, "sub", "subscription")
        _check_offer_id(offer_id)
        await save_offers.accept(
            runtime, subscription_id=subscription_id, offer_id=offer_id, actor=actor_of(request)
        )
        return await _detail(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/retention_offers/{offer_id:str}/decline",
        status_code=200,
        summary="Record that the customer turned a save offer down",
        responses=problems(_NOT_FOUND, (409, "managed_by_store"), (422, "invalid_offer_id")),
    )
    async def decline(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        offer_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> SubscriptionDetail:
        check_id(subscription_id, "sub", "subscription")
        _check_offer_id(offer_id)
        await save_offers.decline(
            runtime, subscription_id=subscription_id, offer_id=offer_id, actor=actor_of(request)
        )
        return await _detail(runtime, subscription_id)

    @post(
        "/{subscription_id:str}/price_change/accept",
        status_code=200,
        summary="Accept the scheduled price change (opt-in consent)",
        responses=problems(
            (404, "subscription_not_found"),
            (409, "price_change_not_scheduled price_change_already_accepted managed_by_store"),
        ),
    )
    async def accept_price_change(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[Empty | None] = None,
    ) -> SubscriptionDetail:
        """Without it, a subscription under ``opt_in`` consent ends at
        ``pending_price.effective_at`` (``ended_reason: price_change_declined``)."""
        check_id(subscription_id, "sub", "subscription")
        await price_changes.accept(
            runtime, subscription_id=subscription_id, actor=actor_of(request)
        )
        return await _detail(runtime, subscription_id)


class PriceChangeController(Controller):
    path = "/v1/price_changes"
    tags = ["retention"]

    @post(
        "/",
        status_code=201,
        summary="Move a plan's subscribers in a market to a catalog price version",
        responses=problems(
            (409, "price_change_exists"),
            (
                422,
                "unknown_plan unknown_market unknown_price_version plan_unavailable_in_market "
                "invalid_timestamp",
            ),
        ),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreatePriceChange],
        runtime: RuntimeDep,
    ) -> PriceChange:
        """Each renewing web subscription of ``plan`` in ``market`` gets ``pending_price`` for
        its first renewal after the market's notice period (and the version's effective
        date), with the market's consent rule; ``grandfather`` cohorts keep their price."""
        cohorts = data.grandfather
        started = cohorts.started_before if cohorts else None
        result = await price_changes.schedule(
            runtime,
            plan_id=data.plan,
            market=data.market.upper(),
            version=data.version,
            cohorts=price_changes.Cohorts(
                started_before=parse_time(started, "grandfather.started_before")
                if started
                else None,
                versions=tuple(cohorts.versions) if cohorts else (),
            ),
            actor=actor_of(request),
        )
        return price_change_of(result)
