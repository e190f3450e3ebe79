"""API keys and the audit log."""

from __future__ import annotations

from typing import Any, Literal

from tenure.access.keys import KeyInfo
from tenure.access.models import AuditRecord
from tenure.api.resources.base import Resource, at, ts


class ApiKey(Resource):
    id: str
    object: Literal["api_key"]
    name: str
    role: str | None  # viewer | support | finance | admin, or null for a scoped service key
    scopes: list[str]  # what the key may do (a role's scopes, or the key's own list)
    prefix: str | None  # the secret's first characters, to recognise it (null for old keys)
    status: str  # active | revoked
    created: str
    revoked_at: str | None
    last_used_at: str | None  # kept to the minute


class ApiKeyWithSecret(ApiKey):
    """Answered once, by create: the secret is stored only as a hash and never shown again."""

    secret: str


class ApiKeyList(Resource):
    object: Literal["list"]
    data: list[ApiKey]
    has_more: bool
    next: str | None


def _fields(key: KeyInfo) -> dict[str, object]:
    return {
        "id": key.id,
        "object": "api_key",
        "name": key.name,
        "role": key.role,
        "scopes": list(key.scopes),
        "prefix": key.prefix,
        "status": "active" if key.active else "revoked",
        "created": at(key.created_at),
        "revoked_at": ts(key.revoked_at),
        "last_used_at": ts(key.last_used_at),
    }


def api_key_of(key: KeyInfo) -> ApiKey:
    return ApiKey(**_fields(key))  # type: ignore[arg-type]


def api_key_with_secret_of(key: KeyInfo, secret: str) -> ApiKeyWithSecret:
    return ApiKeyWithSecret(**_fields(key), secret=secret)  # type: ignore[arg-type]


class AuditEntry(Resource):
    id: str
    object: Literal["audit_entry"]
    at: str
    actor: str  # api:key_…, user:cus_… (an end user), cli
    role: str | None  # the acting key's role; null for service keys and the CLI
    action: str  # create_api_key, refund_invoice, create_grant, cancel_subscription, ...
    target_type: str
    target_id: str
    customer: str | None
    reason: str | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditLog(Resource):
    object: Literal["list"]
    data: list[AuditEntry]
    has_more: bool
    next: str | None


def audit_entry_of(row: AuditRecord) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        object="audit_entry",
        at=at(row.at),
        actor=row.actor,
        role=row.role,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        customer=row.customer_id,
        reason=row.reason,
        request_id=row.request_id,
        before=row.before,
        after=row.after,
    )
