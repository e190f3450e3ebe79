"""The inbox of provider webhooks: verified events, stored once, processed in provider order.

A verified event is parsed into an :class:`InboxEvent` (the provider's event id, type, Tenure's
``kind``, the object it is about, the provider's timestamp) and inserted with
``(provider, event_id)`` unique, so a duplicate delivery or a replay inserts nothing. Known
kinds are stored ``pending`` until a handler processes them (flows/provider_events.py), in the
order of the provider's timestamps; unknown types are stored ``ignored``.

The stored payload is the provider's event without personal data (names, e-mail, addresses,
phone numbers) and without signatures or client secrets: what a handler needs to act.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.payments.models import ProviderEvent


class EventKind(StrEnum):
    PAYMENT_OUTCOME = "payment_outcome"  # phase 2: the attempt's outcome
    AUTHENTICATION = "authentication"  # phase 2: SCA needed / completed
    REFUND = "refund"  # phase 2: refunds made in the provider's dashboard -> credit note
    DISPUTE = "dispute"  # phase 2: dispute.opened|won|lost and the catalog's policy
    CARD_UPDATED = "card_updated"  # account updater: brand/last4/expiry changed
    UNKNOWN = "unknown"  # stored and ignored


class InboxStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"


STRIPE_KINDS: Final[Mapping[str, EventKind]] = {
    "payment_intent.succeeded": EventKind.PAYMENT_OUTCOME,
    "payment_intent.payment_failed": EventKind.PAYMENT_OUTCOME,
    "payment_intent.processing": EventKind.PAYMENT_OUTCOME,
    "payment_intent.canceled": EventKind.PAYMENT_OUTCOME,
    "payment_intent.requires_action": EventKind.AUTHENTICATION,
    "charge.refunded": EventKind.REFUND,
    "charge.refund.updated": EventKind.REFUND,
    "refund.created": EventKind.REFUND,
    "refund.updated": EventKind.REFUND,
    "refund.failed": EventKind.REFUND,
    "charge.dispute.created": EventKind.DISPUTE,
    "charge.dispute.updated": EventKind.DISPUTE,
    "charge.dispute.closed": EventKind.DISPUTE,
    "charge.dispute.funds_withdrawn": EventKind.DISPUTE,
    "charge.dispute.funds_reinstated": EventKind.DISPUTE,
    "payment_method.automatically_updated": EventKind.CARD_UPDATED,
    "payment_method.card_automatically_updated": EventKind.CARD_UPDATED,
    "payment_method.updated": EventKind.CARD_UPDATED,
}
ADYEN_KINDS: Final[Mapping[str, EventKind]] = {
    "AUTHORISATION": EventKind.PAYMENT_OUTCOME,
    "REFUND": EventKind.REFUND,
    "REFUND_FAILED": EventKind.REFUND,
    "REFUNDED_REVERSED": EventKind.REFUND,
    "CANCEL_OR_REFUND": EventKind.REFUND,
    "NOTIFICATION_OF_CHARGEBACK": EventKind.DISPUTE,
    "CHARGEBACK": EventKind.DISPUTE,
    "CHARGEBACK_REVERSED": EventKind.DISPUTE,
    "SECOND_CHARGEBACK": EventKind.DISPUTE,
    "REQUEST_FOR_INFORMATION": EventKind.DISPUTE,
    "PREARBITRATION_WON": EventKind.DISPUTE,
    "PREARBITRATION_LOST": EventKind.DISPUTE,
    "DISPUTE_DEFENSE_PERIOD_ENDED": EventKind.DISPUTE,
    "RECURRING_CONTRACT": EventKind.CARD_UPDATED,
}
# Adyen events whose object is the payment Tenure sent (``merchantReference`` = Tenure's
# reference); the others are about an earlier payment (``originalReference``) or a token.
_ADYEN_BY_MERCHANT_REFERENCE: Final = frozenset(
    {"AUTHORISATION", "REFUND", "REFUND_FAILED", "REFUNDED_REVERSED", "CANCEL_OR_REFUND"}
)
_REDACTED: Final = frozenset(
    {
        "billing_details", "shipping", "receipt_email", "email", "name", "phone", "address",
        "shopperEmail", "shopperName", "holderName", "cardHolderName", "shopperIP",
        "hmacSignature", "client_secret", "telephoneNumber", "deliveryAddress", "billingAddress",
    }
)  # fmt: skip


class MalformedEvent(ValueError):
    """A verified body that is not an event of the provider's shape."""


@dataclass(frozen=True, slots=True)
class InboxEvent:
    provider: str
    event_id: str
    type: str
    kind: EventKind
    object_id: str | None
    occurred_at: datetime
    payload: dict[str, Any]
    pk: int | None = None
    status: InboxStatus = InboxStatus.PENDING


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if k not in _REDACTED}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def parse_stripe(body: bytes) -> InboxEvent:
    try:
        event = json.loads(body)
        data_object = event["data"]["object"]
        event_id, type_ = str(event["id"]), str(event["type"])
        created = datetime.fromtimestamp(int(event["created"]), UTC)
    except (ValueError, KeyError, TypeError) as error:
        raise MalformedEvent(f"not a Stripe event: {type(error).__name__}") from None
    object_id = data_object.get("id") if isinstance(data_object, dict) else None
    return InboxEvent(
        provider="stripe",
        event_id=event_id,
        type=type_,
        kind=STRIPE_KINDS.get(type_, EventKind.UNKNOWN),
        object_id=None if object_id is None else str(object_id)[:128],
        occurred_at=created,
        payload=redact(event),
    )


def adyen_items(body: bytes) -> list[dict[str, Any]]:
    try:
        envelope = json.loads(body)
        items = [entry["NotificationRequestItem"] for entry in envelope["notificationItems"]]
    except (ValueError, KeyError, TypeError) as error:
        raise MalformedEvent(f"not an Adyen notification: {type(error).__name__}") from None
    if not items or not all(isinstance(item, dict) for item in items):
        raise MalformedEvent("an Adyen notification needs at least one item")
    return items


def parse_adyen_item(item: Mapping[str, Any]) -> InboxEvent:
    try:
        code = str(item["eventCode"])
        psp = str(item["pspReference"])
        occurred = datetime.fromisoformat(str(item["eventDate"]))
    except (KeyError, ValueError) as error:
        raise MalformedEvent(f"Adyen item without {error}") from None
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    success = str(item.get("success", ""))
    if code in _ADYEN_BY_MERCHANT_REFERENCE:
        object_id = item.get("merchantReference") or psp
    elif code == "RECURRING_CONTRACT":
        object_id = psp  # the token (storedPaymentMethodId)
    else:
        object_id = item.get("originalReference") or psp
    return InboxEvent(
        provider="adyen",
        # Adyen may send the same event more than once: pspReference + eventCode + success.
        event_id=f"{psp}:{code}:{success}",
        type=code,
        kind=ADYEN_KINDS.get(code, EventKind.UNKNOWN),
        object_id=str(object_id)[:128],
        occurred_at=occurred.astimezone(UTC),
        payload=redact(dict(item)),
    )


async def store(session: AsyncSession, events: Sequence[InboxEvent], *, at: datetime) -> list[int]:
    """Insert the events not seen before; returns the new rows' keys (duplicates: none)."""
    if not events:
        return []
    table = table_of(ProviderEvent)
    rows = [
        {
            "provider": e.provider,
            "event_id": e.event_id,
            "type": e.type[:64],
            "kind": e.kind.value,
            "object_id": e.object_id,
            "occurred_at": e.occurred_at,
            "received_at": at,
            "status": (
                InboxStatus.IGNORED if e.kind is EventKind.UNKNOWN else InboxStatus.PENDING
            ).value,
            "processed_at": at if e.kind is EventKind.UNKNOWN else None,
            "note": "unknown event type: stored, not processed"
            if e.kind is EventKind.UNKNOWN
            else None,
            "payload": e.payload,
        }
        for e in events
    ]
    dialect: Any = postgresql if is_postgres(session) else sqlite
    inserted: list[int] = []
    for row in rows:  # one statement per item: RETURNING with ON CONFLICT on both backends
        statement = (
            dialect.insert(table)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["provider", "event_id"])
            .returning(table.c.pk)
        )
        pk = (await session.execute(statement)).scalar_one_or_none()
        if pk is not None:
            inserted.append(int(pk))
    return inserted


def from_row(row: ProviderEvent) -> InboxEvent:
    return InboxEvent(
        provider=row.provider,
        event_id=row.event_id,
        type=row.type,
        kind=EventKind(row.kind),
        object_id=row.object_id,
        occurred_at=row.occurred_at,
        payload=dict(row.payload),
        pk=row.pk,
        status=InboxStatus(row.status),
    )
