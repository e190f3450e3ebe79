"""The payload types of Tenure's events: what consumers receive in ``data``.

Unknown fields are refused when *checking our own payloads* (a field cannot reach a consumer
without being in the published schema); consumers must ignore fields they do not know.
"""

from __future__ import annotations

from typing import Annotated

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
Metadata = Annotated[
    dict[str, str],
    msgspec.Meta(description="your own key/value pairs, as set on the object (up to 50 keys)"),
]


class _Payload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Unknown fields are refused when *checking our own payloads*; consumers must ignore them."""


class Money(_Payload, kw_only=True):
    amount: MinorUnits
    currency: Currency


class PendingChangeData(_Payload, kw_only=True):
    plan: str | None
    effective_at: Timestamp


class PauseData(_Payload, kw_only=True):
    """A web pause (docs/retention.md): scheduled from a period end, or running."""

    status: str  # scheduled | active
    starts_at: Timestamp
    resumes_at: Timestamp  # billing starts again here, with the anchor moved to it


class PendingPriceData(_Payload, kw_only=True):
    """A price change scheduled for a later renewal (docs/retention.md#price-increases)."""

    amount: MinorUnits
    currency: Currency
    effective_at: Timestamp  # the renewal that bills it first
    consent: Annotated[
        str,
        msgspec.Meta(
            description="notice (applies unless the customer cancels), opt_in (must be "
            "accepted before effective_at or the subscription ends there), or accepted"
        ),
    ]


class CancellationData(_Payload, kw_only=True):
    reason: Annotated[
        str,
        msgspec.Meta(
            description="too_expensive, not_using, technical_issues, switching_service, other, "
            "or price_change_declined"
        ),
    ]
    comment: str | None  # the customer's words, at most 500 characters


class SubscriptionData(_Payload, kw_only=True):
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
    intro_periods_remaining: int = 0
    pending_change: PendingChangeData | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)
    channel: Annotated[
        str,
        msgspec.Meta(
            description="where it was bought and who bills it: web (Tenure), app_store or "
            "google_play (the store; its notifications move the subscription)"
        ),
    ] = "web"
    renews: Annotated[
        bool,
        msgspec.Meta(description="false for a prepaid plan: it ends with the time bought"),
    ] = True

    pause: PauseData | None = None  # a web pause scheduled or running
    cancellation: CancellationData | None = None  # why it was canceled, until a reactivate
    pending_price: PendingPriceData | None = None  # a scheduled price change


class SubscriptionPaused(SubscriptionData, kw_only=True):
    credited: MinorUnits = 0  # a pause starting now credits the unused paid days


class SubscriptionResumed(SubscriptionData, kw_only=True):
    ended_pause: PauseData | None = None  # the web pause that ended (early or at its end)


class SubscriptionPauseCanceled(SubscriptionData, kw_only=True):
    canceled_pause: PauseData | None = None


class RetentionOfferData(_Payload, kw_only=True):
    """A save offer from the catalog (docs/retention.md)."""

    id: str
    kind: str  # discount | pause | downgrade | extension
    description: str
    percent_off: str | None  # discount: exact decimal text, "50"
    periods: int | None  # discount: invoices discounted; pause: periods paused
    days: int | None  # extension: free days
    to_plan: str | None  # downgrade


class SubscriptionRetentionOffersShown(SubscriptionData, kw_only=True):
    offers: list[RetentionOfferData]


class SubscriptionRetentionOfferAccepted(SubscriptionData, kw_only=True):
    offer: RetentionOfferData
    reactivated: bool  # it was set to cancel; taking the offer undid that


class SubscriptionRetentionOfferDeclined(SubscriptionData, kw_only=True):
    offer: RetentionOfferData


class SubscriptionPriceChangeScheduled(SubscriptionData, kw_only=True):
    price_change: str  # the price change (POST /v1/price_changes) that scheduled it
    previous_price: Money


class SubscriptionPriceChangeApplied(SubscriptionData, kw_only=True):
    previous_price: Money


class SubscriptionCanceled(SubscriptionData, kw_only=True):
    at_period_end: bool
    voided_invoices: list[str]
    reason: str | None = None  # "joined_household" when joining a household canceled it
    household: str | None = None
    # Cancel now with [lifecycle] cancel_now_credit: the unused part of the paid period given
    # back, credited to the balance (by the credit note invoice) and refunded to the card.
    credited: MinorUnits = 0
    refunded: MinorUnits = 0
    credit_invoice: str | None = None


class SubscriptionEnded(SubscriptionData, kw_only=True):
    reason: str


class BillingIssueData(_Payload, kw_only=True):
    reason: Annotated[
        str,
        msgspec.Meta(
            description="authentication_required (bring the customer on-session to "
            "authenticate and pay the invoice) or payment_failed"
        ),
    ]


class SubscriptionTrialEnded(SubscriptionData, kw_only=True):
    scheduled_trial_end: Timestamp  # when the trial would have ended


class SubscriptionStarted(SubscriptionData, kw_only=True):
    scheduled_start: Timestamp  # the start_at it was created with


class SubscriptionExtended(SubscriptionData, kw_only=True):
    extended_from: Timestamp  # the end before the extension; current_period_end is the new one


class ItemData(_Payload, kw_only=True):
    id: str
    plan: str
    product: str
    price: Money
    status: str  # active | removed | ...


class SubscriptionItemChanged(SubscriptionData, kw_only=True):
    item: ItemData  # the add-on attached or removed


class SubscriptionPastDue(SubscriptionData, kw_only=True):
    decline_code: str | None
    grace_ends_at: Timestamp | None = None
    hold_ends_at: Timestamp | None = None
    next_payment_attempt: Timestamp | None = None
    billing_issue: BillingIssueData | None = None


class SubscriptionOnHold(SubscriptionData, kw_only=True):
    hold_ends_at: Timestamp | None = None
    next_payment_attempt: Timestamp | None = None


class SubscriptionRecovered(SubscriptionData, kw_only=True):
    recovered_from: str | None = None
    recovery: str | None = None
    dunning_started_at: Timestamp | None = None
    # Recovered on hold with the period restarted: the hold's days credited to the balance.
    hold_credit: MinorUnits = 0


class SubscriptionPlanChanged(SubscriptionData, kw_only=True):
    previous_plan: str
    change_type: str
    effective: str


class SubscriptionPlanChangeScheduled(SubscriptionData, kw_only=True):
    change_type: str


class SubscriptionPlanChangeCanceled(SubscriptionData, kw_only=True):
    canceled_plan: str | None


class SubscriptionUpdated(SubscriptionData, kw_only=True):
    changed: list[str]  # the fields that changed: metadata


class SubscriptionPromoCodeApplied(SubscriptionData, kw_only=True):
    code: str
    periods: int | None


class SubscriptionPriceIncrease(SubscriptionData, kw_only=True):
    consent: str  # pending (the store asked the customer) | accepted
    new_price: Money | None
    effective_at: Timestamp | None  # the renewal that bills it (accepted)


class SubscriptionRef(_Payload, kw_only=True):
    subscription: str
    channel: str
    status: str
    plan: str
    product: str


class DuplicateSubscription(_Payload, kw_only=True):
    customer: str
    subscription: str  # the one that just started
    channel: str
    subscriptions: list[SubscriptionRef]  # every live subscription of the customer


class InvoiceData(_Payload, kw_only=True):
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
    credit_applied: MinorUnits = 0
    amount_due: MinorUnits = 0
    amount_paid: Annotated[
        int, msgspec.Meta(description="cash captured by the provider, in minor units")
    ] = 0
    metadata: Metadata = msgspec.field(default_factory=dict)


class InvoiceUpdated(InvoiceData, kw_only=True):
    changed: list[str]  # the fields that changed: metadata


class InvoiceRefunded(InvoiceData, kw_only=True):
    credit_note: str
    amount_refunded: MinorUnits
    refund_amount: MinorUnits
    reason: str
    credit_returned: Annotated[
        int,
        msgspec.Meta(description="credit this refund gave back to the customer's balance"),
    ] = 0


class InvoiceRefundReversed(InvoiceData, kw_only=True):
    amount_refunded: MinorUnits
    reversed_amount: MinorUnits


class InvoiceActionRequired(InvoiceData, kw_only=True):
    """The customer must authenticate the payment (3-D Secure) before it can go through."""

    provider: str
    next_action_type: str


class DisputeData(_Payload, kw_only=True):
    """A chargeback on a collected payment, as the provider reported it."""

    dispute: str
    customer: str
    subscription: str | None
    invoice: str
    provider: str
    amount: Money
    reason: str
    status: str
    opened_at: Timestamp
    closed_at: Timestamp | None = None
    policy_applied: Annotated[
        str | None,
        msgspec.Meta(description="what the catalog's dispute policy did (dispute.lost only)"),
    ] = None


class CardData(_Payload, kw_only=True):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentMethodData(_Payload, kw_only=True):
    id: str
    object: str
    customer: str
    type: str
    card: CardData
    default: bool
    created: Timestamp


class InvoicePaymentFailed(InvoiceData, kw_only=True):
    decline_code: str | None
    failure_message: str | None
    retryable: bool
    next_payment_attempt: Timestamp | None


class CustomerData(_Payload, kw_only=True):
    customer: str
    external_id: str
    email: str
    market: str
    test_clock: str | None
    created: Timestamp
    region: str | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)
    billing_day: int | None = None


class CustomerUpdated(CustomerData, kw_only=True):
    changed: list[str]  # the fields that changed: email, metadata


class CustomerErased(_Payload, kw_only=True):
    """Personal data was removed or pseudonymized; ids and financial records remain."""

    customer: str
    erased_at: Timestamp


class HouseholdData(_Payload, kw_only=True):
    household: str
    subscription: str
    manager: str
    product: str
    customer: str
    at: Timestamp
    reason: str | None = None
    expires_at: Timestamp | None = None


class GrantData(_Payload, kw_only=True):
    grant: str
    customer: str
    product: str
    reason: str
    status: str
    starts_at: Timestamp
    ends_at: Timestamp
    closed_at: Timestamp | None
    actor: str


class PreviousEntitlements(_Payload, kw_only=True):
    product: str
    source: str
    status: str


class EntitlementsChanged(_Payload, kw_only=True):
    object: str
    customer: str
    external_id: str | None
    product: str
    status: str
    source: str
    subscription: str | None
    household: str | None
    grant: str | None
    features: list[str]
    feature_values: dict[str, bool | int | str]
    valid_until: Timestamp | None
    billing_issue: bool
    version: int
    previous: PreviousEntitlements | None


class WebhookEndpointDisabled(_Payload, kw_only=True):
    endpoint: str
    url: str
    reason: str
    disabled_at: Timestamp
