"""What every event type is described by (``EventType``), and the example records the catalog's
examples are made from (one subscription, one invoice, ...), shared by its parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from tenure.events.payloads import (
    DisputeData,
    InvoiceData,
    Money,
    PauseData,
    PendingPriceData,
    RetentionOfferData,
    SubscriptionData,
    _Payload,
)


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    version: int
    payload: type[_Payload]
    description: str
    example: _Payload


class EventSchemaError(ValueError):
    """A payload does not match its published type: a bug in the code that recorded it."""


SUB = SubscriptionData(
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
SUB_FIELDS = msgspec.structs.asdict(SUB)
INVOICE = InvoiceData(
    invoice="in_01JD3K6ZQ8N0V5X2T9E4M7B1CC",
    customer=SUB.customer,
    subscription=SUB.subscription,
    status="open",
    billing_reason="subscription_cycle",
    currency="SEK",
    subtotal=10320,
    tax=2580,
    total=12900,
    period_start="2025-02-28T10:00:00Z",
    period_end="2025-03-31T10:00:00Z",
)
INVOICE_FIELDS = msgspec.structs.asdict(INVOICE)
DISPUTE = DisputeData(
    dispute="dsp_01JD3K6ZQ8N0V5X2T9E4M7B1CD",
    customer=SUB.customer,
    subscription=SUB.subscription,
    invoice=INVOICE.invoice,
    provider="stripe",
    amount=Money(amount=12900, currency="SEK"),
    reason="fraudulent",
    status="open",
    opened_at="2025-03-05T10:00:00Z",
)


OFFER = RetentionOfferData(
    id="half_price_3_months",
    kind="discount",
    description="50% off your next 3 months",
    percent_off="50",
    periods=3,
    days=None,
    to_plan=None,
)
PENDING_PRICE = PendingPriceData(
    amount=13900, currency="SEK", effective_at="2025-04-28T10:00:00Z", consent="opt_in"
)
PAUSE = PauseData(
    status="active", starts_at="2025-02-28T10:00:00Z", resumes_at="2025-04-28T10:00:00Z"
)


def sub(**changes: Any) -> SubscriptionData:
    return msgspec.structs.replace(SUB, **changes)


def sub_event(type: str, description: str, **changes: Any) -> EventType:
    return EventType(type, 1, SubscriptionData, description, sub(**changes))
