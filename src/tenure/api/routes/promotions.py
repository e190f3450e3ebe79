"""Promo codes (admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from tenure.api.deps import RuntimeDep, parse_time
from tenure.api.openapi import problems
from tenure.api.resources.promotions import PromoCode, promo_code_of
from tenure.api.schemas import CreatePromoCode
from tenure.billing import promotions as promo_service
from tenure.flows import promotions


class PromoCodeController(Controller):
    path = "/v1/promo_codes"
    tags = ["promo codes"]

    @post(
        "/",
        status_code=201,
        summary="Create a promo code",
        responses=problems(
            (409, "promo_code_exists"),
            (422, "invalid_promo_code invalid_promo_terms invalid_timestamp"),
        ),
    )
    async def create(self, data: JSONBody[CreatePromoCode], runtime: RuntimeDep) -> PromoCode:
        """Percent or fixed amount; once, N periods or forever; limited to products, markets
        and a validity window; a total redemption limit; once per customer."""
        values: dict[str, Any] = {
            "code": data.code,
            "kind": "percent" if data.percent_off is not None else "amount",
            "percent_off": data.percent_off,
            "amount_off": data.amount_off,
            "currency": data.currency,
            "duration": data.duration,
            "duration_periods": data.duration_periods,
            "products": data.products,
            "markets": [market.upper() for market in data.markets],
            "valid_from": parse_time(data.valid_from, "valid_from") if data.valid_from else None,
            "valid_until": parse_time(data.valid_until, "valid_until")
            if data.valid_until
            else None,
            "max_redemptions": data.max_redemptions,
        }
        return promo_code_of(await promotions.create_code(runtime, values))

    @get(
        "/{code:str}", summary="Get a promo code", responses=problems((404, "promo_code_not_found"))
    )
    async def read(self, code: FromPath[str], runtime: RuntimeDep) -> PromoCode:
        async with runtime.db.read() as session:
            return promo_code_of(await promo_service.get_by_code(session, code))
