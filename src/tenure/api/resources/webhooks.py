"""Webhook endpoints, their deliveries, and replays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from tenure.api.resources.base import Resource, at, extend, ts
from tenure.events.delivery_models import PENDING
from tenure.webhooks.models import WebhookEndpoint as EndpointRow


class WebhookEndpoint(Resource):
    id: str
    object: Literal["webhook_endpoint"]
    url: str
    description: str | None
    event_types: list[str]  # ["*"] for every type
    status: str  # enabled | disabled
    disabled_reason: str | None
    disabled_at: str | None
    previous_secret_expires_at: str | None  # while the previous secret still signs too
    failing_since: str | None
    last_success_at: str | None
    created: str
    updated: str


class WebhookEndpointWithSecret(WebhookEndpoint):
    """Answered once, by create and rotate_secret: store ``secret`` with the receiver."""

    secret: str


class WebhookEndpointList(Resource):
    object: Literal["list"]
    data: list[WebhookEndpoint]
    has_more: bool
    next: str | None


class WebhookEndpointDeleted(Resource):
    id: str
    object: Literal["webhook_endpoint"]
    deleted: bool


class WebhookDelivery(Resource):
    object: Literal["webhook_delivery"]
    event: str
    type: str
    position: int
    status: str  # pending | delivered | dead | paused
    attempts: int
    response_code: int | None  # the receiver's last HTTP status
    last_error: str | None
    last_attempt_at: str | None
    next_attempt_at: str | None  # only while pending
    delivered_at: str | None


class WebhookDeliveryList(Resource):
    object: Literal["list"]
    data: list[WebhookDelivery]
    has_more: bool
    next: int | None  # the position to pass as ``after`` next time


class ReplayResult(Resource):
    object: Literal["replay"]
    endpoint: str
    replayed: int
    has_more: bool  # more events matched than one call sends; call again


def endpoint_of(row: EndpointRow) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        object="webhook_endpoint",
        url=row.url,
        description=row.description,
        event_types=list(row.event_types),
        status=row.status,
        disabled_reason=row.disabled_reason,
        disabled_at=ts(row.disabled_at),
        previous_secret_expires_at=ts(row.previous_secret_expires_at),
        failing_since=ts(row.failing_since),
        last_success_at=ts(row.last_success_at),
        created=at(row.created_at),
        updated=at(row.updated_at),
    )


def endpoint_with_secret_of(row: EndpointRow) -> WebhookEndpointWithSecret:
    return extend(endpoint_of(row), WebhookEndpointWithSecret, secret=row.secret)


def delivery_of(row: Mapping[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        object="webhook_delivery",
        event=row["event_id"],
        type=row["type"],
        position=row["position"],
        status=row["status"],
        attempts=row["attempts"],
        response_code=row["last_status_code"],
        last_error=row["last_error"],
        last_attempt_at=ts(row["last_attempt_at"]),
        next_attempt_at=ts(row["next_attempt_at"]) if row["status"] == PENDING else None,
        delivered_at=ts(row["delivered_at"]),
    )


def delivery_list_of(rows: Sequence[Mapping[str, Any]], size: int) -> WebhookDeliveryList:
    has_more = len(rows) > size
    page = rows[:size]
    return WebhookDeliveryList(
        object="list",
        data=[delivery_of(row) for row in page],
        has_more=has_more,
        next=page[-1]["position"] if has_more else None,
    )
