"""API keys through the API (admin scope): create (the secret once), list, read, revoke; and
the audit log (``audit:read``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from tenure.access import audit, keys
from tenure.api.deps import (
    RuntimeDep,
    acting,
    actor_of,
    check_id,
    one_of,
    page_limit,
    parse_time,
)
from tenure.api.openapi import problems
from tenure.api.resources.access import (
    ApiKey,
    ApiKeyList,
    ApiKeyWithSecret,
    AuditLog,
    api_key_of,
    api_key_with_secret_of,
    audit_entry_of,
)
from tenure.api.schemas import CreateApiKey
from tenure.kernel.errors import BadRequest, NotFound


class KeyNotFound(NotFound):
    code = "api_key_not_found"


class ApiKeyController(Controller):
    path = "/v1/api_keys"
    tags = ["access"]

    @post(
        "/",
        status_code=201,
        summary="Create an API key (its secret is in this response only)",
        responses=problems(
            (422, "invalid_key_grant unknown_role unknown_scope reason_required"),
        ),
    )
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[CreateApiKey], runtime: RuntimeDep
    ) -> ApiKeyWithSecret:
        """Give a ``role`` (viewer, support, finance, admin: a person) or ``scopes`` (a
        service, e.g. ``["entitlements:read"]``). Store the ``secret`` now: only its hash is
        kept."""
        acting(request, data.reason, "creating a key")
        info, secret = await keys.create_key(
            runtime.db,
            name=data.name.strip() or data.name,
            role=data.role,
            scopes=data.scopes,
            actor=actor_of(request),
        )
        return api_key_with_secret_of(info, secret)

    @get("/", summary="List API keys (prefix only, never the secret)")
    async def list_(self, runtime: RuntimeDep, status: FromQuery[str | None] = None) -> ApiKeyList:
        if status not in (None, "active", "revoked"):
            raise BadRequest(
                f"status must be active or revoked, not {status!r}",
                code="invalid_filter",
                field="status",
            )
        async with runtime.db.read() as session:
            found = await keys.search_keys(session, include_revoked=status != "active")
        if status == "revoked":
            found = [key for key in found if not key.active]
        return ApiKeyList(
            object="list", data=[api_key_of(key) for key in found], has_more=False, next=None
        )

    @get("/{key_id:str}", summary="Get an API key", responses=problems((404, "api_key_not_found")))
    async def read(self, key_id: FromPath[str], runtime: RuntimeDep) -> ApiKey:
        check_id(key_id, "key", "api key")
        async with runtime.db.read() as session:
            found = await keys.get_key(session, key_id)
        if found is None:
            raise KeyNotFound(f"no API key {key_id!r}")
        return api_key_of(found)

    @delete(
        "/{key_id:str}",
        status_code=200,
        summary="Revoke an API key (every process refuses it within a second)",
        responses=problems((404, "api_key_not_found"), (422, "reason_required")),
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[str],
        runtime: RuntimeDep,
        reason: FromQuery[str | None] = None,
    ) -> ApiKey:
        """Idempotent: revoking a revoked key answers it unchanged. ``reason`` (query) is
        required when a person's key revokes."""
        check_id(key_id, "key", "api key")
        acting(request, reason, "revoking a key")
        found = await keys.revoke_key(runtime.db, key_id, actor=actor_of(request))
        if found is None:
            raise KeyNotFound(f"no API key {key_id!r}")
        return api_key_of(found)


@get(
    "/v1/audit_log",
    tags=["access"],
    summary="The audit log, newest first, with filters",
    responses=problems((422, "invalid_limit invalid_timestamp")),
)
async def audit_log(
    runtime: RuntimeDep,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    target: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
    starting_after: FromQuery[str | None] = None,
) -> AuditLog:
    """Every support, money and access action: who (``actor``, ``role``), what (``action``,
    ``target_type``, ``target_id``), why (``reason``), when, from which request, and a summary
    before and after. ``since``/``until`` are RFC 3339; page with ``starting_after``."""
    size = page_limit(limit)
    one_of(action, audit.ACTIONS, "action")
    query = audit.AuditFilter(
        actor=actor,
        action=action,
        target=target,
        customer=customer,
        since=parse_time(since, "since") if since is not None else None,
        until=parse_time(until, "until") if until is not None else None,
        starting_after=starting_after,
    )
    async with runtime.db.read() as session:
        rows = await audit.search(session, query, limit=size + 1)
    data = [audit_entry_of(row) for row in rows[:size]]
    more = len(rows) > size
    return AuditLog(object="list", data=data, has_more=more, next=data[-1].id if more else None)
