"""Entitlements (the hot read), the batch read, and support grants."""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from tenure.api.deps import RuntimeDep, actor_of, check_id, parse_time
from tenure.api.schemas import CreateGrant, EntitlementBatch
from tenure.api.views import ts
from tenure.customers import service as customers
from tenure.entitlements import grants
from tenure.entitlements.read import BATCH_LIMIT, CACHE_CONTROL, MAX_AGE, View, etag_matches
from tenure.flows import entitlements as reads
from tenure.flows import grants as grant_flows
from tenure.kernel.errors import InvalidRequest

_JSON: Final = "application/json"


def respond(request: Request[Any, Any, Any], view: View) -> Response[bytes]:
    headers = {"ETag": view.etag, "Cache-Control": CACHE_CONTROL}
    condition = request.headers.get("if-none-match")
    if condition is not None and etag_matches(condition, view.etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(view.encoded, media_type=_JSON, headers=headers)


@get(
    "/v1/customers/{customer_id:str}/entitlements",
    tags=["entitlements"],
    summary="What the customer may do right now",
)
async def by_customer(
    request: Request[Any, Any, Any], customer_id: FromPath[str], runtime: RuntimeDep
) -> Response[bytes]:
    check_id(customer_id, "cus", "customer")
    return respond(request, await reads.one(runtime, customer_id=customer_id))


@get(
    "/v1/entitlements/{external_id:str}",
    tags=["entitlements"],
    summary="Entitlements by the user's id in your identity system",
)
async def by_external_id(
    request: Request[Any, Any, Any], external_id: FromPath[str], runtime: RuntimeDep
) -> Response[bytes]:
    if "\x00" in external_id or len(external_id) > 200:
        raise customers.CustomerNotFound(f"no customer with external_id {external_id!r}")
    return respond(request, await reads.one(runtime, external_id=external_id))


@post(
    "/v1/entitlements/batch",
    status_code=200,
    tags=["entitlements"],
    summary="Entitlements of up to 500 customers in one call",
)
async def batch(data: JSONBody[EntitlementBatch], runtime: RuntimeDep) -> dict[str, Any]:
    if (data.customers is None) == (data.external_ids is None):
        raise InvalidRequest(
            'send exactly one of "customers" or "external_ids"', code="invalid_batch"
        )
    keys = data.customers if data.customers is not None else data.external_ids or []
    if not 1 <= len(keys) <= BATCH_LIMIT:
        raise InvalidRequest(f"a batch holds between 1 and {BATCH_LIMIT} ids", code="invalid_batch")
    if any(not isinstance(key, str) or len(key) > 200 or "\x00" in key for key in keys):
        raise InvalidRequest("ids must be text of at most 200 characters", code="invalid_batch")
    views, missing = await reads.many(runtime, by_external=data.external_ids is not None, keys=keys)
    return {
        "object": "list",
        "data": [view.body for view in views],
        "missing": missing,
        "max_age": MAX_AGE,
    }


def grant_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "grant",
        "customer": row["customer_id"],
        "product": row["product_id"],
        "reason": row["reason"],
        "status": row["status"],
        "starts_at": ts(row["starts_at"]),
        "ends_at": ts(row["ends_at"]),
        "closed_at": ts(row["closed_at"]),
        "actor": row["actor"],
        "created": ts(row["created_at"]),
    }


class GrantController(Controller):
    path = "/v1/customers/{customer_id:str}/grants"
    tags = ["entitlements"]

    @post("/", status_code=201, summary="Give the customer a product for a period")
    async def create(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        data: JSONBody[CreateGrant],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        check_id(customer_id, "cus", "customer")
        ends_at = parse_time(data.ends_at, "ends_at") if data.ends_at is not None else None
        row = await grant_flows.create(
            runtime,
            customer_id=customer_id,
            product=data.product,
            ends_at=ends_at,
            days=data.days,
            reason=data.reason,
            actor=actor_of(request),
        )
        return grant_view(row)

    @get("/", summary="The customer's grants, oldest first")
    async def list_(self, customer_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(customer_id, "cus", "customer")
        async with runtime.db.read() as session:
            await customers.get(session, customer_id)
            rows = await grants.list_for(session, customer_id)
        return {
            "object": "list",
            "data": [grant_view(row) for row in rows],
            "has_more": False,
            "next": None,
        }

    @delete("/{grant_id:str}", status_code=200, summary="Revoke a grant now")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        grant_id: FromPath[str],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        check_id(customer_id, "cus", "customer")
        check_id(grant_id, "grt", "grant")
        row = await grant_flows.revoke(
            runtime, customer_id=customer_id, grant_id=grant_id, actor=actor_of(request)
        )
        return grant_view(row)
