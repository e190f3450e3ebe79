"""The event catalog: every event type, its schema version, its payload type and an example.

The payload types below are the code's own types: ``events.record.event_row`` checks every
payload against them before it reaches the outbox, and the published JSON Schemas
(``GET /v1/event_types``, docs/events.md) are generated from them. A payload that does not
match its type is a bug and fails the transaction that wrote it, so a field can never reach a
consumer without being in the published schema.

Compatibility: adding an optional field is compatible. Removing, renaming or retyping a field,
or making it nullable, needs a new ``version`` (tests/unit/test_event_schemas.py compares the
schemas with the committed snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Generic, TypeVar

import msgspec

Timestamp = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$",
        description="RFC 3339 timestamp in UTC",
        extra_json_schema={"format": "date-time"},
    ),
]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
MinorUnits = Annotated[int, msgspec.Meta(description="integer amount in the currency's minor unit")]


class _Payload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Unknown fields are refused when *checking our own payloads*; consumers must ignore them."""


class Money(_Payload):
    amount: MinorUnits
    currency: Currency


class SubscriptionData(_Payload):
    subscription: str
    customer: str
    status: str
    plan: str
    product: str
    market: str
    price: Money
    current_period_start: Timestamp
    current_period_end: Timestamp
    trial_end: Timestamp | None
    cancel_at_period_end: bool
    ended_at: Timestamp | None
    ended_reason: str | None


class SubscriptionCanceled(SubscriptionData):
    at_period_end: bool
    voided_invoices: list[str]


class SubscriptionEnded(SubscriptionData):
    reason: str


class SubscriptionPastDue(SubscriptionData):
    decline_code: str | None


class InvoiceData(_Payload):
    invoice: str
    customer: str
    subscription: str | None
    status: str
    billing_reason: str
    currency: Currency
    subtotal: MinorUnits
    tax: MinorUnits
    total: MinorUnits
    period_start: Timestamp
    period_end: Timestamp


class InvoicePaymentFailed(InvoiceData):
    decline_code: str | None
    failure_message: str | None
    retryable: bool
    next_payment_attempt: Timestamp | None


class CustomerData(_Payload):
    customer: str
    external_id: str
    email: str
    market: str
    test_clock: str | None
    created: Timestamp


class WebhookEndpointDisabled(_Payload):
    endpoint: str
    url: str
    reason: str
    disabled_at: Timestamp


P = TypeVar("P")


class Envelope(msgspec.Struct, Generic[P], kw_only=True):
    """What NATS messages and webhook bodies carry: the event plus its payload in ``data``."""

    id: str
    type: str
    created: Timestamp
    schema_version: int
    sequence: int | None
    customer: str | None
    external_id: str | None
    subscription: str | None
    data: P


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    version: int
    payload: type[_Payload]
    description: str
    example: _Payload


class EventSchemaError(ValueError):
    """A payload does not match its published type: a bug in the code that recorded it."""


_SUB = SubscriptionData(
    subscription="sub_01JD3K6ZQ8N0V5X2T9E4M7B1CA",
    customer="cus_01JD3K6ZQ8N0V5X2T9E4M7B1CB",
    status="active",
    plan="premium_individual_monthly",
    product="premium_individual",
    market="SE",
    price=Money(amount=12900, currency="SEK"),
    current_period_start="2025-02-28T10:00:00Z",
    current_period_end="2025-03-31T10:00:00Z",
    trial_end=None,
    cancel_at_period_end=False,
    ended_at=None,
    ended_reason=None,
)
_SUB_FIELDS = msgspec.structs.asdict(_SUB)
_INVOICE = InvoiceData(
    invoice="in_01JD3K6ZQ8N0V5X2T9E4M7B1CC",
    customer=_SUB.customer,
    subscription=_SUB.subscription,
    status="open",
    billing_reason="subscription_cycle",
    currency="SEK",
    subtotal=10320,
    tax=2580,
    total=12900,
    period_start="2025-02-28T10:00:00Z",
    period_end="2025-03-31T10:00:00Z",
)
_INVOICE_FIELDS = msgspec.structs.asdict(_INVOICE)


def _sub(**changes: Any) -> SubscriptionData:
    return msgspec.structs.replace(_SUB, **changes)


def _sub_event(type: str, description: str, **changes: Any) -> EventType:
    return EventType(type, 1, SubscriptionData, description, _sub(**changes))


CATALOG: Final[tuple[EventType, ...]] = (
    EventType(
        "customer.created",
        1,
        CustomerData,
        "A customer was created (keyed by your external_id).",
        CustomerData(
            customer=_SUB.customer,
            external_id="user-42",
            email="ada@example.com",
            market="SE",
            test_clock=None,
            created="2025-01-31T10:00:00Z",
        ),
    ),
    _sub_event(
        "subscription.created",
        "A subscription started: trialing, or incomplete until its first payment succeeds.",
        status="incomplete",
    ),
    _sub_event(
        "subscription.activated",
        "The first payment (or the payment that ends a trial) succeeded; access is granted.",
    ),
    _sub_event("subscription.renewed", "A renewal was paid; the new period has started."),
    EventType(
        "subscription.past_due",
        1,
        SubscriptionPastDue,
        "A renewal payment failed; access continues through the grace period.",
        SubscriptionPastDue(
            **{**_SUB_FIELDS, "status": "past_due"}, decline_code="insufficient_funds"
        ),
    ),
    _sub_event("subscription.recovered", "A past_due subscription was paid and is active again."),
    _sub_event(
        "subscription.reactivated",
        "A cancel at period end was undone before the period ended.",
    ),
    _sub_event(
        "subscription.trial_will_end",
        "The trial ends soon (sent once per trial); the first charge follows at trial_end.",
        status="trialing",
        trial_end="2025-03-02T10:00:00Z",
    ),
    EventType(
        "subscription.expired",
        1,
        SubscriptionEnded,
        "The subscription ended (canceled at period end, or grace ran out); access is gone.",
        SubscriptionEnded(
            **{
                **_SUB_FIELDS,
                "status": "expired",
                "ended_at": "2025-03-31T10:00:00Z",
                "ended_reason": "canceled",
            },
            reason="canceled",
        ),
    ),
    EventType(
        "subscription.incomplete_expired",
        1,
        SubscriptionEnded,
        "The first payment never succeeded within 23 hours; the subscription is void.",
        SubscriptionEnded(
            **{
                **_SUB_FIELDS,
                "status": "incomplete_expired",
                "ended_at": "2025-02-01T09:00:00Z",
                "ended_reason": "incomplete_expired",
            },
            reason="incomplete_expired",
        ),
    ),
    EventType(
        "subscription.canceled",
        1,
        SubscriptionCanceled,
        "A cancel was requested: at period end (access continues) or now (access ends).",
        SubscriptionCanceled(
            **{**_SUB_FIELDS, "cancel_at_period_end": True},
            at_period_end=True,
            voided_invoices=[],
        ),
    ),
    EventType(
        "invoice.created",
        1,
        InvoiceData,
        "An invoice was issued for a period (first payment or renewal).",
        _INVOICE,
    ),
    EventType(
        "invoice.paid",
        1,
        InvoiceData,
        "An invoice was paid in full.",
        msgspec.structs.replace(_INVOICE, status="paid"),
    ),
    EventType(
        "invoice.payment_failed",
        1,
        InvoicePaymentFailed,
        "A payment attempt for an invoice failed; the decline code says whether to retry.",
        InvoicePaymentFailed(
            **_INVOICE_FIELDS,
            decline_code="insufficient_funds",
            failure_message="Your card has insufficient funds.",
            retryable=True,
            next_payment_attempt=None,
        ),
    ),
    EventType(
        "webhook_endpoint.disabled",
        1,
        WebhookEndpointDisabled,
        "Tenure disabled a webhook endpoint that kept failing (or answered 410 Gone).",
        WebhookEndpointDisabled(
            endpoint="we_01JD3K6ZQ8N0V5X2T9E4M7B1CD",
            url="https://hooks.example.com/tenure",
            reason="failing since 2025-03-01T10:00:00Z: HTTP 500",
            disabled_at="2025-03-06T10:00:00Z",
        ),
    ),
)

BY_TYPE: Final[dict[str, EventType]] = {spec.name: spec for spec in CATALOG}


def check(type: str, data: dict[str, Any]) -> int:
    """Refuse a payload that does not match its type; returns the type's schema version."""
    spec = BY_TYPE.get(type)
    if spec is None:
        raise EventSchemaError(
            f"event type {type!r} is not in the catalog (tenure.events.catalog.CATALOG); "
            "add it there with its payload type, then refresh the schema snapshot"
        )
    try:
        msgspec.convert(data, spec.payload)
    except msgspec.ValidationError as error:
        raise EventSchemaError(f"{type} payload does not match its schema: {error}") from None
    return spec.version


def _strip_closed(schema: Any) -> Any:
    """Published schemas stay open: consumers must accept fields added later."""
    if isinstance(schema, dict):
        return {
            key: _strip_closed(value)
            for key, value in schema.items()
            if key != "additionalProperties"
        }
    if isinstance(schema, list):
        return [_strip_closed(item) for item in schema]
    return schema


def json_schema(spec: EventType) -> dict[str, Any]:
    """The JSON Schema of a whole message of this type (envelope plus ``data``)."""
    envelope: Any = Envelope[spec.payload]  # type: ignore[name-defined]
    (ref,), defs = msgspec.json.schema_components([envelope], ref_template="#/$defs/{name}")
    name = ref["$ref"].rsplit("/", 1)[-1]
    top = defs.pop(name)
    top["title"] = spec.name
    top["description"] = spec.description
    top["properties"]["type"] = {"const": spec.name}
    top["properties"]["schema_version"] = {"const": spec.version}
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **top, "$defs": defs}
    return dict(_strip_closed(schema))


def example(spec: EventType) -> dict[str, Any]:
    """A whole example message of this type."""
    data = msgspec.to_builtins(spec.example)
    subscription = data.get("subscription") if isinstance(data, dict) else None
    return {
        "id": "evt_01JD3K6ZQ8N0V5X2T9E4M7B1CE",
        "type": spec.name,
        "created": "2025-02-28T10:00:00Z",
        "schema_version": spec.version,
        "sequence": 4 if subscription else None,
        "customer": data.get("customer"),
        "external_id": "user-42" if data.get("customer") else None,
        "subscription": subscription,
        "data": data,
    }
