"""Events from the outbox, and the event catalog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from tenure.api.resources.base import Resource, at
from tenure.events import catalog
from tenure.events.models import OutboxEvent


class Event(Resource):
    id: str
    object: Literal["event"]
    type: str
    schema_version: int
    created: str
    position: int | None  # the global order; listed events always have one
    customer: str | None
    subscription: str | None
    sequence: int | None  # per subscription, from 1
    data: dict[str, Any]  # the payload; its schema is in GET /v1/event_types/{type}


class EventList(Resource):
    object: Literal["list"]
    data: list[Event]
    has_more: bool
    next: int | None  # the position to pass as ``after`` next time


class EventType(Resource):
    object: Literal["event_type"]
    type: str
    schema_version: int
    description: str
    schema: dict[str, Any]  # JSON Schema of the whole message (envelope and data)
    example: dict[str, Any]


class EventTypeList(Resource):
    object: Literal["list"]
    data: list[EventType]
    has_more: bool
    next: str | None


def event_of(row: OutboxEvent) -> Event:
    return Event(
        id=row.id,
        object="event",
        type=row.type,
        schema_version=row.schema_version,
        created=at(row.created),
        position=row.position,
        customer=row.customer_id,
        subscription=row.subscription_id,
        sequence=row.sequence,
        data=row.data,
    )


def event_list_of(rows: Sequence[OutboxEvent], *, has_more: bool, after: int | None) -> EventList:
    return EventList(
        object="list",
        data=[event_of(row) for row in rows],
        has_more=has_more,
        next=rows[-1].position if rows else after,
    )


def event_type_of(spec: catalog.EventType) -> EventType:
    return EventType(
        object="event_type",
        type=spec.name,
        schema_version=spec.version,
        description=spec.description,
        schema=catalog.json_schema(spec),
        example=catalog.example(spec),
    )
