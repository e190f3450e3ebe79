"""Processing the provider-webhook inbox: one handler per event kind, in provider order.

The webhook routes store verified events (payments/inbox.py) and call :func:`process`; the
worker calls :func:`process_pending` each pass for anything left. A kind without a handler
stays ``pending`` in the inbox: payment outcomes, refunds made in the provider's dashboard,
disputes and authentication results wait there for the handlers of the money core (issue 11,
phase 2), which register with :func:`register` and then process the backlog in order.

Handlers run in their own transaction each, with the event's row locked, and return the
event's final status with a short note; an exception leaves the event pending (retried by the
next pass) and is logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.engine import is_postgres
from tenure.events.record import record as record_events
from tenure.flows.payment_methods import _event as method_event
from tenure.flows.runtime import Runtime
from tenure.payments import methods
from tenure.payments.inbox import EventKind, InboxEvent, InboxStatus, from_row
from tenure.payments.models import ProviderEvent

log = structlog.get_logger(__name__)

Outcome = tuple[InboxStatus, str | None]
Handler = Callable[[Runtime, AsyncSession, InboxEvent], Awaitable[Outcome]]

_HANDLERS: dict[EventKind, Handler] = {}


def register(kind: EventKind, handler: Handler) -> None:
    """Make ``handler`` process events of ``kind`` (one handler per kind)."""
    _HANDLERS[kind] = handler


def handled_kinds() -> set[EventKind]:
    return set(_HANDLERS)


async def process(runtime: Runtime, pks: Sequence[int]) -> int:
    """Process these inbox rows (oldest provider timestamp first); returns how many."""
    if not pks:
        return 0
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(ProviderEvent.pk)
            .where(
                ProviderEvent.pk.in_(list(pks)),
                ProviderEvent.status == InboxStatus.PENDING.value,
                ProviderEvent.kind.in_([kind.value for kind in _HANDLERS]),
            )
            .order_by(ProviderEvent.occurred_at, ProviderEvent.pk)
        )
        ordered = [int(pk) for pk in rows.scalars()]
    done = 0
    for pk in ordered:
        done += await _process_one(runtime, pk)
    return done


async def process_pending(runtime: Runtime, *, limit: int = 200) -> int:
    """The backlog of kinds that have a handler, in the order of the providers' timestamps."""
    if not _HANDLERS:
        return 0
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(ProviderEvent.pk)
            .where(
                ProviderEvent.status == InboxStatus.PENDING.value,
                ProviderEvent.kind.in_([kind.value for kind in _HANDLERS]),
            )
            .order_by(ProviderEvent.occurred_at, ProviderEvent.pk)
            .limit(limit)
        )
        pks = [int(pk) for pk in rows.scalars()]
    return await process(runtime, pks)


async def _process_one(runtime: Runtime, pk: int) -> int:
    try:
        async with runtime.db.transaction() as session:
            statement = select(ProviderEvent).where(
                ProviderEvent.pk == pk, ProviderEvent.status == InboxStatus.PENDING.value
            )
            if is_postgres(session):
                statement = statement.with_for_update(skip_locked=True)
            row = await session.scalar(statement)
            if row is None:
                return 0  # another process has it, or had it
            event = from_row(row)
            handler = _HANDLERS.get(event.kind)
            if handler is None:
                return 0
            status, note = await handler(runtime, session, event)
            await session.execute(
                update(ProviderEvent)
                .where(ProviderEvent.pk == pk)
                .values(
                    status=status.value,
                    note=None if note is None else note[:200],
                    processed_at=datetime.now(UTC),
                )
            )
    except Exception:
        log.exception("provider_event.failed", pk=pk)
        return 0
    return 1


# --- card updates from the networks' account updaters ----------------------------------------


def _card_of(event: InboxEvent) -> tuple[str, dict[str, Any]] | None:
    """(token, {brand, last4, exp_month, exp_year}) from a card-update event, if complete."""
    if event.provider == "stripe":
        obj = (event.payload.get("data") or {}).get("object") or {}
        card = obj.get("card") or {}
        if not obj.get("id") or not card.get("last4"):
            return None
        return str(obj["id"]), {
            "brand": str(card.get("brand") or "unknown"),
            "last4": str(card["last4"]),
            "exp_month": int(card["exp_month"]),
            "exp_year": int(card["exp_year"]),
        }
    extra = event.payload.get("additionalData") or {}
    expiry = str(extra.get("expiryDate") or "")  # "3/2030" or "03/2030"
    summary = str(extra.get("cardSummary") or "")
    if "/" not in expiry or len(summary) != 4 or event.payload.get("success") != "true":
        return None
    month, _, year = expiry.partition("/")
    return str(event.payload["pspReference"]), {
        "brand": str(event.payload.get("paymentMethod") or "unknown"),
        "last4": summary,
        "exp_month": int(month),
        "exp_year": int(year) if len(year) == 4 else 2000 + int(year),
    }


async def card_updated(runtime: Runtime, session: AsyncSession, event: InboxEvent) -> Outcome:
    found = _card_of(event)
    if found is None:
        return InboxStatus.IGNORED, "no card details in the event"
    token, card = found
    changed = 0
    for method in await methods.by_token(session, event.provider, token):
        if method.details_as_of is not None and method.details_as_of >= event.occurred_at:
            continue  # an older update delivered late: the stored details are newer
        method.details_as_of = event.occurred_at
        if all(getattr(method, field) == value for field, value in card.items()):
            continue
        for field, value in card.items():
            setattr(method, field, value)
        at = runtime.clock.now()
        await record_events(session, [method_event("payment_method.updated", method, at)])
        changed += 1
    await session.flush()
    if changed == 0:
        return (
            InboxStatus.IGNORED,
            "no stored method changed (unknown token, same or newer details)",
        )
    return InboxStatus.PROCESSED, f"updated {changed} stored method(s)"


register(EventKind.CARD_UPDATED, card_updated)
