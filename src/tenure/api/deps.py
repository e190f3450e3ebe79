"""Shared request helpers: the runtime, actor, id checks and paging."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from tenure.access import audit
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import parse_rfc3339
from tenure.kernel.errors import BadRequest, InvalidRequest, NotFound
from tenure.kernel.ids import is_valid_id

MAX_PAGE: Final = 100


async def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


def actor_of(request: Request[Any, Any, Any]) -> str:
    """``api:key_…`` for a key (routes under /v1/me record ``user:cus_…`` themselves)."""
    principal = request.scope.get("state", {}).get("principal")
    if principal is not None:
        return str(principal.actor)
    key_id = request.scope.get("state", {}).get("api_key_id", "anonymous")
    return f"api:{key_id}"


def acting(request: Request[Any, Any, Any], reason: str | None, action: str) -> None:
    """Declare the caller's role and reason for the audit record the flow writes; a person's
    key (a role) must give a reason (422 ``reason_required``)."""
    principal = request.scope.get("state", {}).get("principal")
    audit.acting(
        role=getattr(principal, "role", None),
        person=bool(getattr(principal, "person", False)),
        reason=reason,
        action=action,
    )


def one_of(value: str | None, allowed: Iterable[str], field: str) -> str | None:
    """A filter value from a closed set: anything else is 400 ``invalid_filter`` (a typo must
    not answer an empty list as if nothing matched)."""
    choices = sorted(allowed)
    if value is None or value in choices:
        return value
    raise BadRequest(
        f"{field} must be one of {', '.join(choices)}, not {value!r}",
        code="invalid_filter",
        field=field,
    )


def check_id(value: str, prefix: str, resource: str) -> str:
    """A malformed id can never exist: say so precisely instead of a bare 404."""
    if not is_valid_id(value, prefix):
        raise NotFound(
            f"{value!r} is not a {resource} id; {resource} ids look like {prefix}_01J…",
            code=f"{resource.replace(' ', '_')}_not_found",
        )
    return value


def parse_time(value: str, field: str) -> datetime:
    try:
        parsed = parse_rfc3339(value)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is not None and 1970 <= parsed.year <= 2200:
        return parsed
    raise InvalidRequest(
        f"{field} must be an RFC 3339 timestamp with an offset between the years 1970 and "
        "2200, like 2025-01-31T10:00:00Z",
        code="invalid_timestamp",
        field=field,
    )


def page_limit(limit: int | None) -> int:
    if limit is None:
        return 20
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit")
    return limit


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_Identified)


def page(items: list[Item], size: int) -> tuple[list[Item], bool, str | None]:
    """A cursor page: fetch ``size + 1`` rows, keep ``size``; whether more exist, and the id to
    pass as ``starting_after`` for the next page (``None`` on the last one)."""
    has_more = len(items) > size
    items = items[:size]
    return items, has_more, items[-1].id if has_more and items else None


RuntimeDep = NamedDependency[Runtime]
