"""A thin client for HTTP tests: the real app, in process, with helpers for common steps."""

from __future__ import annotations

from typing import Any

import httpx
from litestar.testing import AsyncTestClient

API_KEY = "test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Api:
    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params or None, headers=AUTH)

    async def post(
        self, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers={**AUTH, **(headers or {})})

    async def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = (
            await self.get(path, **params) if method == "GET" else await self.post(path, body)
        )
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json()

    async def ok_delete(self, path: str) -> Any:
        response = await self.client.delete(path, headers=AUTH)
        assert response.status_code < 300, f"DELETE {path}: {response.status_code} {response.text}"
        return response.json()

    async def clock(self, at: str = "2025-01-31T10:00:00Z") -> str:
        body = await self.ok("POST", "/v1/test_clocks", {"frozen_time": at})
        return str(body["id"])

    async def customer(
        self, clock: str | None = None, *, market: str = "SE", external_id: str | None = None
    ) -> str:
        import uuid

        body = await self.ok(
            "POST",
            "/v1/customers",
            {
                "external_id": external_id or f"user-{uuid.uuid4().hex[:12]}",
                "email": "listener@example.com",
                "market": market,
                "test_clock": clock,
            },
        )
        return str(body["id"])

    async def subscribe(
        self,
        customer: str,
        *,
        plan: str = "premium_individual_monthly",
        payment_method: str = "pm_card_visa",
        trial: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok(
            "POST",
            "/v1/subscriptions",
            {"customer": customer, "plan": plan, "payment_method": payment_method, "trial": trial},
        )
        return body

    async def advance(self, clock: str, to: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok(
            "POST", f"/v1/test_clocks/{clock}/advance", {"frozen_time": to}
        )
        return body

    async def subscription(self, sub_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok("GET", f"/v1/subscriptions/{sub_id}")
        return body

    async def invoices(self, customer: str) -> list[dict[str, Any]]:
        body = await self.ok("GET", "/v1/invoices", customer=customer, limit=100)
        return list(body["data"])

    async def events(self, **filters: Any) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []
        after = None
        while True:
            params = {"limit": 100, **filters}
            if after is not None:
                params["after"] = after
            body = await self.ok("GET", "/v1/events", **params)
            collected.extend(body["data"])
            if not body["has_more"]:
                return collected
            after = body["next"]
