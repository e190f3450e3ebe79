"""The audit trail: append-only records of support, money and access actions.

A route that lets a person act on someone's account calls :func:`acting` with the caller's
role and reason (a person's key must give one); the flow then writes :func:`write` in its own
transaction, so the record exists exactly when the change does. The role and reason travel in
a context variable, like the request id, so flows need not pass them through every layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access.models import AuditRecord
from tenure.kernel.errors import InvalidRequest
from tenure.kernel.ids import new_id
from tenure.observability.context import current_request_id


@dataclass(frozen=True, slots=True)
class Acting:
    """The person (or service) behind the request in progress."""

    role: str | None
    reason: str | None


# Every action the log records (docs/security.md).
ACTIONS: Final = frozenset(
    {
        "create_api_key",
        "revoke_api_key",
        "refund_invoice",
        "void_invoice",
        "create_grant",
        "revoke_grant",
        "cancel_subscription",
        "change_plan",
        "erase_customer",
    }
)

ACTING: Final[ContextVar[Acting | None]] = ContextVar("tenure_acting", default=None)


def acting(*, role: str | None, person: bool, reason: str | None, action: str) -> None:
    """Declare who acts and why for the rest of this request; a person must give a reason."""
    cleaned = (reason or "").strip() or None
    if person and cleaned is None:
        raise InvalidRequest(
            f"{action} by a person's key needs a 'reason' (it goes to the audit log)",
            code="reason_required",
            field="reason",
        )
    ACTING.set(Acting(role=role, reason=cleaned))


async def write(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    customer_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """One audit row in the caller's transaction."""
    current = ACTING.get()
    await session.execute(
        insert(AuditRecord).values(
            id=new_id("aud"),
            at=datetime.now(UTC),
            actor=actor[:250],
            role=current.role if current else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            customer_id=customer_id,
            reason=reason or (current.reason if current else None),
            request_id=current_request_id(),
            before=before,
            after=after,
        )
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    customer: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    starting_after: str | None = None


async def search(session: AsyncSession, query: AuditFilter, *, limit: int) -> Sequence[AuditRecord]:
    """Newest first, paged by id (ids sort by time)."""
    statement = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if query.actor is not None:
        statement = statement.where(AuditRecord.actor == query.actor)
    if query.action is not None:
        statement = statement.where(AuditRecord.action == query.action)
    if query.target is not None:
        statement = statement.where(AuditRecord.target_id == query.target)
    if query.customer is not None:
        statement = statement.where(AuditRecord.customer_id == query.customer)
    if query.since is not None:
        statement = statement.where(AuditRecord.at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditRecord.at < query.until)
    if query.starting_after is not None:
        statement = statement.where(AuditRecord.id < query.starting_after)
    return (await session.scalars(statement)).all()
