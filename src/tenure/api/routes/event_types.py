"""The event catalog: every event type with its schema version, JSON Schema and an example."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.params import FromPath

from tenure.events import catalog
from tenure.kernel.errors import NotFound


def _view(spec: catalog.EventType) -> dict[str, Any]:
    return {
        "object": "event_type",
        "type": spec.name,
        "schema_version": spec.version,
        "description": spec.description,
        "schema": catalog.json_schema(spec),
        "example": catalog.example(spec),
    }


@get("/v1/event_types", summary="List event types", tags=["events"])
async def list_event_types() -> dict[str, Any]:
    """Every event type Tenure publishes; schemas only ever change compatibly per version."""
    data = [_view(spec) for spec in catalog.CATALOG]
    return {"object": "list", "data": data, "has_more": False, "next": None}


@get("/v1/event_types/{event_type:str}", summary="Get an event type", tags=["events"])
async def get_event_type(event_type: FromPath[str]) -> dict[str, Any]:
    spec = catalog.BY_TYPE.get(event_type)
    if spec is None:
        raise NotFound(
            f"no event type {event_type!r}; list them with GET /v1/event_types",
            code="event_type_not_found",
        )
    return _view(spec)
