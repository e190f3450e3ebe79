"""Webhook endpoints: register, change, rotate secrets, inspect deliveries, replay."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from tenure.api.deps import RuntimeDep, check_id, page, page_limit, parse_time
from tenure.api.openapi import problems
from tenure.api.resources.webhooks import (
    ReplayResult,
    WebhookDeliveryList,
    WebhookEndpoint,
    WebhookEndpointDeleted,
    WebhookEndpointList,
    WebhookEndpointWithSecret,
    delivery_list_of,
    endpoint_of,
    endpoint_with_secret_of,
)
from tenure.events import deliveries
from tenure.events.delivery_models import STATUSES
from tenure.flows import webhooks as flows
from tenure.kernel.errors import InvalidRequest
from tenure.webhooks import service
from tenure.webhooks.models import DISABLED, ENABLED

_ID = "we"
_RESOURCE = "webhook endpoint"


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


class CreateWebhookEndpoint(_Body):
    url: str
    event_types: list[str] = msgspec.field(default_factory=lambda: ["*"])
    description: str | None = None


class UpdateWebhookEndpoint(_Body):
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    status: str | None = None


class RotateSecret(_Body):
    # How long the previous secret keeps signing too (a second signature in the header).
    overlap_seconds: int = 86_400


class Replay(_Body):
    since: str | None = None
    event: str | None = None


def _status(value: str | None) -> str | None:
    if value is not None and value not in (ENABLED, DISABLED):
        raise InvalidRequest(
            'status must be "enabled" or "disabled"', code="invalid_status", field="status"
        )
    return value


_NOT_FOUND = (404, "webhook_endpoint_not_found")
_INVALID = (
    "invalid_webhook_url webhook_url_not_https webhook_url_not_public invalid_event_types "
    "unknown_event_type invalid_description invalid_status"
)


class WebhookEndpointController(Controller):
    path = "/v1/webhook_endpoints"
    tags = ["webhooks"]

    @post(
        "/",
        summary="Register a webhook endpoint (returns its signing secret once)",
        responses=problems((422, _INVALID)),
    )
    async def create(
        self, runtime: RuntimeDep, data: JSONBody[CreateWebhookEndpoint]
    ) -> WebhookEndpointWithSecret:
        endpoint = await flows.create_endpoint(
            runtime, url=data.url, event_types=data.event_types, description=data.description
        )
        return endpoint_with_secret_of(endpoint)

    @get("/", summary="List webhook endpoints", responses=problems((422, "invalid_limit")))
    async def list_(
        self,
        runtime: RuntimeDep,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> WebhookEndpointList:
        size = page_limit(limit)
        async with runtime.db.read() as session:
            rows = await service.list_(session, after=starting_after, limit=size + 1)
        data, has_more, after = page([endpoint_of(row) for row in rows], size)
        return WebhookEndpointList(object="list", data=data, has_more=has_more, next=after)

    @get("/{endpoint_id:str}", summary="Get a webhook endpoint", responses=problems(_NOT_FOUND))
    async def get_(self, runtime: RuntimeDep, endpoint_id: FromPath[str]) -> WebhookEndpoint:
        check_id(endpoint_id, _ID, _RESOURCE)
        async with runtime.db.read() as session:
            endpoint = await service.get(session, endpoint_id)
        return endpoint_of(endpoint)

    @patch(
        "/{endpoint_id:str}",
        summary="Change url, event types, description or status",
        responses=problems(_NOT_FOUND, (422, _INVALID)),
    )
    async def update(
        self,
        runtime: RuntimeDep,
        endpoint_id: FromPath[str],
        data: JSONBody[UpdateWebhookEndpoint],
    ) -> WebhookEndpoint:
        check_id(endpoint_id, _ID, _RESOURCE)
        changes = flows.Changes(
            url=data.url,
            event_types=data.event_types,
            description=data.description,
            status=_status(data.status),
        )
        return endpoint_of(await flows.update_endpoint(runtime, endpoint_id, changes))

    @delete(
        "/{endpoint_id:str}",
        summary="Delete a webhook endpoint",
        status_code=200,
        responses=problems(_NOT_FOUND),
    )
    async def delete_(
        self, runtime: RuntimeDep, endpoint_id: FromPath[str]
    ) -> WebhookEndpointDeleted:
        check_id(endpoint_id, _ID, _RESOURCE)
        await flows.delete_endpoint(runtime, endpoint_id)
        return WebhookEndpointDeleted(id=endpoint_id, object="webhook_endpoint", deleted=True)

    @post(
        "/{endpoint_id:str}/rotate_secret",
        summary="Rotate the signing secret",
        status_code=200,
        responses=problems(_NOT_FOUND, (422, "invalid_overlap")),
    )
    async def rotate(
        self, runtime: RuntimeDep, endpoint_id: FromPath[str], data: JSONBody[RotateSecret]
    ) -> WebhookEndpointWithSecret:
        check_id(endpoint_id, _ID, _RESOURCE)
        if not 0 <= data.overlap_seconds <= service.MAX_OVERLAP.total_seconds():
            raise InvalidRequest(
                "overlap_seconds must be between 0 and "
                f"{int(service.MAX_OVERLAP.total_seconds())} (seven days)",
                code="invalid_overlap",
                field="overlap_seconds",
            )
        overlap = timedelta(seconds=data.overlap_seconds)
        endpoint = await flows.rotate_secret(runtime, endpoint_id, overlap=overlap)
        return endpoint_with_secret_of(endpoint)

    @get(
        "/{endpoint_id:str}/deliveries",
        summary="Deliveries to this endpoint",
        responses=problems(_NOT_FOUND, (422, "invalid_status invalid_limit")),
    )
    async def deliveries_(
        self,
        runtime: RuntimeDep,
        endpoint_id: FromPath[str],
        status: FromQuery[str | None] = None,
        after: FromQuery[int | None] = None,
        limit: FromQuery[int | None] = None,
    ) -> WebhookDeliveryList:
        """``after`` is the ``next`` of the previous page (an event position)."""
        check_id(endpoint_id, _ID, _RESOURCE)
        size = page_limit(limit)
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"status must be one of {', '.join(STATUSES)}", code="invalid_status"
            )
        async with runtime.db.read() as session:
            await service.get(session, endpoint_id)
            rows = await deliveries.listing(
                session, endpoint_id, status=status, after=after, limit=size + 1
            )
        return delivery_list_of(rows, size)

    @post(
        "/{endpoint_id:str}/replay",
        summary="Send events again",
        status_code=202,
        responses=problems(
            (404, "webhook_endpoint_not_found event_not_found"),
            (422, "invalid_replay invalid_timestamp event_type_not_subscribed"),
        ),
    )
    async def replay(
        self, runtime: RuntimeDep, endpoint_id: FromPath[str], data: JSONBody[Replay]
    ) -> ReplayResult:
        """``{"since": "2025-01-31T00:00:00Z"}`` or ``{"event": "evt_…"}``; same webhook-id."""
        check_id(endpoint_id, _ID, _RESOURCE)
        since = parse_time(data.since, "since") if data.since is not None else None
        if data.event is not None:
            check_id(data.event, "evt", "event")
        count, more = await flows.replay(runtime, endpoint_id, since=since, event_id=data.event)
        return ReplayResult(object="replay", endpoint=endpoint_id, replayed=count, has_more=more)
