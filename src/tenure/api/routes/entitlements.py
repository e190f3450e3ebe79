"""Entitlements (the hot read), the batch read, and support grants."""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from tenure.api.deps import RuntimeDep, acting, actor_of, check_id, parse_time
from tenure.api.openapi import problems
from tenure.api.resources.entitlements import (
    EntitlementBatchResult,
    Entitlements,
    Grant,
    GrantList,
    batch_of,
    grant_list_of,
    grant_of,
)
from tenure.api.schemas import CreateGrant, EntitlementBatch
from tenure.customers import service as customers
from tenure.entitlements import grants
from tenure.entitlements.read import BATCH_LIMIT, CACHE_CONTROL, MAX_AGE, View, etag_matches
from tenure.flows import entitlements as reads
from tenure.flows import grants as grant_flows
from tenure.kernel.errors import InvalidRequest

_JSON: Final = "application/json"
# The single reads answer the pre-rendered bytes (the same ones api/fastpath.py sends), so the
# schema of their 200 is declared here rather than read from the handler's return type.
_READ: Final = {
    200: ResponseSpec(
        data_container=Entitlements,
        description="What the customer may do now; `ETag` and `Cache-Control` headers",
        generate_examples=False,
    ),
    304: ResponseSpec(data_container=None, description="Unchanged since `If-None-Match`"),
}


STALE_HEADER: Final = "Tenure-Stale"


def stale_headers(views: list[View]) -> dict[str, str]:
    """While the database is unavailable: ``Tenure-Stale: true`` and the ``Age`` in seconds
    of the oldest last known value answered (docs/reliability.md)."""
    ages = [view.stale_age for view in views if view.stale_age is not None]
    if not ages:
        return {}
    return {STALE_HEADER: "true", "Age": str(int(max(ages))), "Cache-Control": "no-store"}


def respond(request: Request[Any, Any, Any], view: View) -> Response[bytes]:
    headers = {"ETag": view.etag, "Cache-Control": CACHE_CONTROL, **stale_headers([view])}
    condition = request.headers.get("if-none-match")
    if condition is not None and etag_matches(condition, view.etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(view.encoded, media_type=_JSON, headers=headers)


@get(
    "/v1/customers/{customer_id:str}/entitlements",
    tags=["entitlements"],
    summary="What the customer may do right now",
    operation_id="entitlements_by_customer",
    responses={**_READ, **problems((404, "customer_not_found"))},
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
    operation_id="entitlements_by_external_id",
    responses={**_READ, **problems((404, "customer_not_found"))},
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
    operation_id="entitlements_batch",
    responses=problems((422, "invalid_batch")),
)
async def batch(
    data: JSONBody[EntitlementBatch], runtime: RuntimeDep
) -> Response[EntitlementBatchResult]:
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
    return Response(batch_of(views, missing, MAX_AGE), headers=stale_headers(views))


class GrantController(Controller):
    path = "/v1/customers/{customer_id:str}/grants"
    tags = ["entitlements"]

    @post(
        "/",
        status_code=201,
        summary="Give the customer a product for a period",
        responses=problems(
            (404, "customer_not_found"),
            (422, "unknown_product invalid_grant_period invalid_grant_reason invalid_timestamp"),
        ),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        data: JSONBody[CreateGrant],
        runtime: RuntimeDep,
    ) -> Grant:
        check_id(customer_id, "cus", "customer")
        acting(request, data.reason, "a grant")
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
        return grant_of(row)

    @get(
        "/",
        summary="The customer's grants, oldest first",
        responses=problems((404, "customer_not_found")),
    )
    async def list_(self, customer_id: FromPath[str], runtime: RuntimeDep) -> GrantList:
        check_id(customer_id, "cus", "customer")
        async with runtime.db.read() as session:
            await customers.get(session, customer_id)
            rows = await grants.list_for(session, customer_id)
        return grant_list_of(rows)

    @delete(
        "/{grant_id:str}",
        status_code=200,
        summary="Revoke a grant now",
        responses=problems(
            (404, "customer_not_found grant_not_found"),
            (409, "grant_not_active"),
            (422, "reason_required"),
        ),
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        grant_id: FromPath[str],
        runtime: RuntimeDep,
        reason: FromQuery[str | None] = None,
    ) -> Grant:
        """``reason`` (query) is required when a person's key revokes."""
        check_id(customer_id, "cus", "customer")
        check_id(grant_id, "grt", "grant")
        acting(request, reason, "revoking a grant")
        row = await grant_flows.revoke(
            runtime, customer_id=customer_id, grant_id=grant_id, actor=actor_of(request)
        )
        return grant_of(row)
