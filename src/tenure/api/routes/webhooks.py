"""Webhook endpoints: register, change, rotate secrets, inspect deliveries, replay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from tenure.api.deps import RuntimeDep, check_id, page, page_limit, parse_time
from tenure.api.views import ts
from tenure.events import deliveries
from tenure.events.delivery_models import PENDING, STATUSES
from tenure.flows import webhooks as flows
from tenure.kernel.errors import InvalidRequest
from tenure.webhooks import service
from tenure.webhooks.models import DISABLED, ENABLED, WebhookEndpoint

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


def endpoint_view(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    view = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": ts(endpoint.disabled_at),
        "previous_secret_expires_at": ts(endpoint.previous_secret_expires_at),
        "failing_since": ts(endpoint.failing_since),
        "last_success_at": ts(endpoint.last_success_at),
        "created": ts(endpoint.created_at),
        "updated": ts(endpoint.updated_at),
    }
    if secret:
        # Shown once, when created or rotated: store it with the receiver.
        view["secret"] = endpoint.secret
    return view


def delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "webhook_delivery",
        "event": row["event_id"],
        "type": row["type"],
        "position": row["position"],
        "status": row["status"],
        "attempts": row["attempts"],
        "response_code": row["last_status_code"],
        "last_error": row["last_error"],
        "last_attempt_at": ts(row["last_attempt_at"]),
        "next_attempt_at": ts(row["next_attempt_at"]) if row["status"] == PENDING else None,
        "delivered_at": ts(row["delivered_at"]),
    }


def _status(value: str | None) -> str | None:
    if value is not None and value not in (ENABLED, DISABLED):
        raise InvalidRequest(
            'status must be "enabled" or "disabled"', code="invalid_status", field="status"
        )
    return value


class WebhookEndpointController(Controller):
    path = "/v1/webhook_endpoints"
    tags = ["webhooks"]

    @post("/", summary="Register a webhook endpoint (returns its signing secret once)")
    async def create(
        self, runtime: RuntimeDep, data: JSONBody[CreateWebhookEndpoint]
    ) -> dict[str, Any]:
        endpoint = await flows.create_endpoint(
            runtime, url=data.url, event_types=data.event_types, description=data.description
        )
        return endpoint_view(endpoint, secret=True)

    @get("/", summary="List webhook endpoints")
    async def list_(
        self,
        runtime: RuntimeDep,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        size = page_limit(limit)
        async with runtime.db.read() as session:
            rows = await service.list_(session, after=starting_after, limit=size + 1)
        return page([endpoint_view(row) for row in rows], size)

    @get("/{endpoint_id:str}", summary="Get a webhook endpoint")
    async def get_(self, runtime: RuntimeDep, endpoint_id: FromPath[str]) -> dict[str, Any]:
        check_id(endpoint_id, _ID, _RESOURCE)
        async with runtime.db.read() as session:
            endpoint = await service.get(session, endpoint_id)
        return endpoint_view(endpoint)

    @patch("/{endpoint_id:str}", summary="Change url, event types, description or status")
    async def update(
        self,
        runtime: RuntimeDep,
        endpoint_id: FromPath[str],
        data: JSONBody[UpdateWebhookEndpoint],
    ) -> dict[str, Any]:
        check_id(endpoint_id, _ID, _RESOURCE)
        changes = flows.Changes(
            url=data.url,
            event_types=data.event_types,
            description=data.description,
            status=_status(data.status),
        )
        return endpoint_view(await flows.update_endpoint(runtime, endpoint_id, changes))

    @delete("/{endpoint_id:str}", summary="Delete a webhook endpoint", status_code=200)
    async def delete_(self, runtime: RuntimeDep, endpoint_id: FromPath[str]) -> dict[str, Any]:
        check_id(endpoint_id, _ID, _RESOURCE)
        await flows.delete_endpoint(runtime, endpoint_id)
        return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    @post("/{endpoint_id:str}/rotate_secret", summary="Rotate the signing secret", status_code=200)
    async def rotate(
        self, runtime: RuntimeDep, endpoint_id: FromPath[str], data: JSONBody[RotateSecret]
    ) -> dict[str, Any]:
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
        return endpoint_view(endpoint, secret=True)

    @get("/{endpoint_id:str}/deliveries", summary="Deliveries to this endpoint")
    async def deliveries_(
        self,
        runtime: RuntimeDep,
        endpoint_id: FromPath[str],
        status: FromQuery[str | None] = None,
        after: FromQuery[int | None] = None,
        limit: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
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
        has_more = len(rows) > size
        rows = rows[:size]
        return {
            "object": "list",
            "data": [delivery_view(row) for row in rows],
            "has_more": has_more,
            "next": rows[-1]["position"] if has_more else None,
        }

    @post("/{endpoint_id:str}/replay", summary="Send events again", status_code=202)
    async def replay(
        self, runtime: RuntimeDep, endpoint_id: FromPath[str], data: JSONBody[Replay]
    ) -> dict[str, Any]:
        """``{"since": "2025-01-31T00:00:00Z"}`` or ``{"event": "evt_…"}``; same webhook-id."""
        check_id(endpoint_id, _ID, _RESOURCE)
        since = parse_time(data.since, "since") if data.since is not None else None
        if data.event is not None:
            check_id(data.event, "evt", "event")
        count, more = await flows.replay(runtime, endpoint_id, since=since, event_id=data.event)
        return {"object": "replay", "endpoint": endpoint_id, "replayed": count, "has_more": more}
