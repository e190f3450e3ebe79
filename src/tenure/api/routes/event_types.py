"""The event catalog: every event type with its schema version, JSON Schema and an example."""

from __future__ import annotations

from litestar import get
from litestar.params import FromPath

from tenure.api.openapi import problems
from tenure.api.resources.events import EventType, EventTypeList, event_type_of
from tenure.events import catalog
from tenure.kernel.errors import NotFound


@get("/v1/event_types", summary="List event types", tags=["events"])
async def list_event_types() -> EventTypeList:
    """Every event type Tenure publishes; schemas only ever change compatibly per version."""
    data = [event_type_of(spec) for spec in catalog.CATALOG]
    return EventTypeList(object="list", data=data, has_more=False, next=None)


@get(
    "/v1/event_types/{event_type:str}",
    summary="Get an event type",
    tags=["events"],
    responses=problems((404, "event_type_not_found")),
)
async def get_event_type(event_type: FromPath[str]) -> EventType:
    spec = catalog.BY_TYPE.get(event_type)
    if spec is None:
        raise NotFound(
            f"no event type {event_type!r}; list them with GET /v1/event_types",
            code="event_type_not_found",
        )
    return event_type_of(spec)
