"""Promo codes (admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from tenure.api import views
from tenure.api.deps import RuntimeDep, parse_time
from tenure.api.schemas import CreatePromoCode
from tenure.billing import promotions as promo_service
from tenure.flows import promotions


class PromoCodeController(Controller):
    path = "/v1/promo_codes"
    tags = ["promo codes"]

    @post("/", status_code=201, summary="Create a promo code")
    async def create(self, data: JSONBody[CreatePromoCode], runtime: RuntimeDep) -> dict[str, Any]:
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
        return views.promo_code(await promotions.create_code(runtime, values))

    @get("/{code:str}", summary="Get a promo code")
    async def read(self, code: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        async with runtime.db.read() as session:
            return views.promo_code(await promo_service.get_by_code(session, code))
