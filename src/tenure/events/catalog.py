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

from typing import Any, Final, Generic, TypeVar

import msgspec

from tenure.events.examples import (
    DISPUTE,
    INVOICE,
    INVOICE_FIELDS,
    SUB,
)
from tenure.events.examples import (
    EventSchemaError as EventSchemaError,
)
from tenure.events.examples import (
    EventType as EventType,
)
from tenure.events.payloads import (  # noqa: F401 - re-exported for callers
    CancellationData,
    CardData,
    Currency,
    CustomerData,
    CustomerErased,
    CustomerUpdated,
    DisputeData,
    DuplicateSubscription,
    EntitlementsChanged,
    GrantData,
    HouseholdData,
    InvoiceActionRequired,
    InvoiceData,
    InvoicePaymentFailed,
    InvoiceRefunded,
    InvoiceRefundReversed,
    InvoiceUpdated,
    ItemData,
    MinorUnits,
    Money,
    PauseData,
    PaymentMethodData,
    PendingChangeData,
    PendingPriceData,
    PreviousEntitlements,
    RetentionOfferData,
    SubscriptionCanceled,
    SubscriptionData,
    SubscriptionEnded,
    SubscriptionExtended,
    SubscriptionItemChanged,
    SubscriptionOnHold,
    SubscriptionPastDue,
    SubscriptionPauseCanceled,
    SubscriptionPaused,
    SubscriptionPlanChangeCanceled,
    SubscriptionPlanChanged,
    SubscriptionPlanChangeScheduled,
    SubscriptionPriceChangeApplied,
    SubscriptionPriceChangeScheduled,
    SubscriptionPriceIncrease,
    SubscriptionPromoCodeApplied,
    SubscriptionRecovered,
    SubscriptionRef,
    SubscriptionResumed,
    SubscriptionRetentionOfferAccepted,
    SubscriptionRetentionOfferDeclined,
    SubscriptionRetentionOffersShown,
    SubscriptionStarted,
    SubscriptionTrialEnded,
    SubscriptionUpdated,
    Timestamp,
    WebhookEndpointDisabled,
    _Payload,
)
from tenure.events.subscription_events import SUBSCRIPTION_EVENTS

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


CATALOG: Final[tuple[EventType, ...]] = (
    EventType(
        "customer.created",
        1,
        CustomerData,
        "A customer was created (keyed by your external_id).",
        CustomerData(
            customer=SUB.customer,
            external_id="user-42",
            email="ada@example.com",
            market="SE",
            test_clock=None,
            created="2025-01-31T10:00:00Z",
        ),
    ),
    EventType(
        "customer.updated",
        1,
        CustomerUpdated,
        "A customer's email or metadata changed (``changed`` says which).",
        CustomerUpdated(
            customer=SUB.customer,
            external_id="user-42",
            email="ada@example.com",
            market="SE",
            test_clock=None,
            created="2025-01-31T10:00:00Z",
            metadata={"crm_id": "A-1001"},
            changed=["metadata"],
        ),
    ),
    EventType(
        "customer.erased",
        1,
        CustomerErased,
        "A customer's personal data was erased (POST /v1/customers/{id}/erase): email, "
        "external_id and metadata pseudonymized, earlier events scrubbed; invoices remain.",
        CustomerErased(customer=SUB.customer, erased_at="2025-03-01T10:00:00Z"),
    ),
    EventType(
        "customer.duplicate_subscription",
        1,
        DuplicateSubscription,
        "A customer now holds more than one live subscription (for example web and App Store): "
        "entitlements take the best of them; support may want to help them cancel one.",
        DuplicateSubscription(
            customer=SUB.customer,
            subscription="sub_01JD3K6ZQ8N0V5X2T9E4M7B1CK",
            channel="app_store",
            subscriptions=[
                SubscriptionRef(
                    subscription=SUB.subscription,
                    channel="web",
                    status="active",
                    plan=SUB.plan,
                    product=SUB.product,
                ),
                SubscriptionRef(
                    subscription="sub_01JD3K6ZQ8N0V5X2T9E4M7B1CK",
                    channel="app_store",
                    status="active",
                    plan=SUB.plan,
                    product=SUB.product,
                ),
            ],
        ),
    ),
    *SUBSCRIPTION_EVENTS,
    EventType(
        "invoice.created",
        1,
        InvoiceData,
        "An invoice was issued for a period (first payment or renewal).",
        INVOICE,
    ),
    EventType(
        "invoice.paid",
        1,
        InvoiceData,
        "An invoice was paid in full.",
        msgspec.structs.replace(INVOICE, status="paid"),
    ),
    EventType(
        "invoice.updated",
        1,
        InvoiceUpdated,
        "An invoice's metadata changed.",
        InvoiceUpdated(
            **{**INVOICE_FIELDS, "metadata": {"po_number": "PO-7"}}, changed=["metadata"]
        ),
    ),
    EventType(
        "invoice.voided",
        1,
        InvoiceData,
        "An open invoice was voided (canceled before it was paid); its credit went back to the "
        "balance.",
        msgspec.structs.replace(INVOICE, status="void"),
    ),
    EventType(
        "invoice.marked_uncollectible",
        1,
        InvoiceData,
        "Dunning gave up on an invoice (or its subscription ended unpaid); it keeps its credit.",
        msgspec.structs.replace(INVOICE, status="uncollectible"),
    ),
    EventType(
        "invoice.payment_failed",
        1,
        InvoicePaymentFailed,
        "A payment attempt for an invoice failed; the decline code says whether to retry.",
        InvoicePaymentFailed(
            **INVOICE_FIELDS,
            decline_code="insufficient_funds",
            failure_message="Your card has insufficient funds.",
            retryable=True,
            next_payment_attempt=None,
        ),
    ),
    EventType(
        "invoice.payment_action_required",
        1,
        InvoiceActionRequired,
        "The customer must authenticate the payment (3-D Secure) on-session: the client "
        "completes the next_action it was handed (subscribe or pay answers carry it); the "
        "provider's webhook or POST /v1/invoices/{id}/pay then settles the invoice.",
        InvoiceActionRequired(
            **{**INVOICE_FIELDS, "billing_reason": "subscription_create"},
            provider="stripe",
            next_action_type="use_stripe_sdk",
        ),
    ),
    EventType(
        "dispute.opened",
        1,
        DisputeData,
        "The customer's bank disputed a payment (a chargeback, or an inquiry that may become "
        "one); the invoice shows the dispute and no refund can be made meanwhile.",
        DISPUTE,
    ),
    EventType(
        "dispute.won",
        1,
        DisputeData,
        "A dispute was decided for the merchant: the payment stands.",
        msgspec.structs.replace(DISPUTE, status="won", closed_at="2025-04-20T10:00:00Z"),
    ),
    EventType(
        "dispute.lost",
        1,
        DisputeData,
        "A dispute was decided for the customer: the payment is gone, and the catalog's "
        "dispute policy was applied (policy_applied says what it did).",
        msgspec.structs.replace(
            DISPUTE, status="lost", closed_at="2025-04-20T10:00:00Z", policy_applied="cancel_now"
        ),
    ),
    EventType(
        "invoice.refunded",
        1,
        InvoiceRefunded,
        "A paid invoice was refunded, in full or in part (a credit note records why).",
        InvoiceRefunded(
            **{**INVOICE_FIELDS, "status": "paid"},
            credit_note="cn_01JD3K6ZQ8N0V5X2T9E4M7B1CF",
            amount_refunded=2900,
            refund_amount=2900,
            reason="goodwill: outage on 3 March",
        ),
    ),
    EventType(
        "invoice.refund_reversed",
        1,
        InvoiceRefundReversed,
        "A store reversed a refund (App Store REFUND_REVERSED): the cash counts as paid again.",
        InvoiceRefundReversed(
            **{**INVOICE_FIELDS, "status": "paid", "amount_paid": 12900},
            amount_refunded=0,
            reversed_amount=12900,
        ),
    ),
    *(
        EventType(
            name,
            1,
            PaymentMethodData,
            description,
            PaymentMethodData(
                id="pm_01JD3K6ZQ8N0V5X2T9E4M7B1CG",
                object="payment_method",
                customer=SUB.customer,
                type="card",
                card=CardData(brand="visa", last4="4242", exp_month=12, exp_year=2030),
                default=True,
                created="2025-01-31T10:00:00Z",
            ),
        )
        for name, description in (
            ("payment_method.attached", "A payment method was stored for a customer."),
            ("payment_method.default_changed", "A payment method became the default."),
            ("payment_method.detached", "A payment method was removed."),
            (
                "payment_method.updated",
                "The card network's account updater changed a stored card (brand, last 4 or "
                "expiry), reported by the payment provider.",
            ),
        )
    ),
    EventType(
        "entitlements.changed",
        1,
        EntitlementsChanged,
        "What a customer may do changed (subscription, household, grant or Free); drop caches.",
        EntitlementsChanged(
            object="entitlements",
            customer=SUB.customer,
            external_id="user-42",
            product="premium_individual",
            status="active",
            source="subscription",
            subscription=SUB.subscription,
            household=None,
            grant=None,
            features=["ad_free", "offline", "on_demand"],
            feature_values={"ad_free": True, "offline": True, "on_demand": True},
            valid_until="2025-03-31T10:00:00Z",
            billing_issue=False,
            version=3,
            previous=PreviousEntitlements(product="free", source="free", status="free"),
        ),
    ),
    *(
        EventType(
            name,
            1,
            GrantData,
            description,
            GrantData(
                grant="gr_01JD3K6ZQ8N0V5X2T9E4M7B1CH",
                customer=SUB.customer,
                product="premium_individual",
                reason="apology for the outage on 3 March",
                status=status,
                starts_at="2025-03-04T10:00:00Z",
                ends_at="2025-04-04T10:00:00Z",
                closed_at=None if status == "active" else "2025-04-04T10:00:00Z",
                actor="api:key_01JD3K6ZQ8N0V5X2T9E4M7B1CI",
            ),
        )
        for name, status, description in (
            ("grant.created", "active", "Support gave a customer a product for a while."),
            ("grant.revoked", "revoked", "A grant was taken back before its end."),
            ("grant.ended", "ended", "A grant reached its end."),
        )
    ),
    *(
        EventType(
            name,
            1,
            HouseholdData,
            description,
            HouseholdData(
                household="hh_01JD3K6ZQ8N0V5X2T9E4M7B1CJ",
                subscription=SUB.subscription,
                manager=SUB.customer,
                product="premium_family",
                customer=SUB.customer,
                at="2025-03-04T10:00:00Z",
                reason=reason,
                expires_at="2025-03-11T10:00:00Z" if name.endswith("invite_created") else None,
            ),
        )
        for name, reason, description in (
            ("household.created", None, "A Duo or Family subscription started its household."),
            ("household.ended", "subscription_ended", "A household ended with its subscription."),
            ("household.invite_created", None, "The manager created an invite code."),
            ("household.member_joined", None, "A customer joined a household."),
            ("household.member_left", "left", "A member left (or lost a seat)."),
            ("household.member_removed", "removed", "The manager removed a member."),
        )
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
