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
from typing import Any, Final, Generic, TypeVar

import msgspec

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
_DISPUTE = DisputeData(
    dispute="dsp_01JD3K6ZQ8N0V5X2T9E4M7B1CD",
    customer=_SUB.customer,
    subscription=_SUB.subscription,
    invoice=_INVOICE.invoice,
    provider="stripe",
    amount=Money(amount=12900, currency="SEK"),
    reason="fraudulent",
    status="open",
    opened_at="2025-03-05T10:00:00Z",
)


_OFFER = RetentionOfferData(
    id="half_price_3_months",
    kind="discount",
    description="50% off your next 3 months",
    percent_off="50",
    periods=3,
    days=None,
    to_plan=None,
)
_PENDING_PRICE = PendingPriceData(
    amount=13900, currency="SEK", effective_at="2025-04-28T10:00:00Z", consent="opt_in"
)
_PAUSE = PauseData(
    status="active", starts_at="2025-02-28T10:00:00Z", resumes_at="2025-04-28T10:00:00Z"
)


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
    EventType(
        "customer.updated",
        1,
        CustomerUpdated,
        "A customer's email or metadata changed (``changed`` says which).",
        CustomerUpdated(
            customer=_SUB.customer,
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
        CustomerErased(customer=_SUB.customer, erased_at="2025-03-01T10:00:00Z"),
    ),
    EventType(
        "customer.duplicate_subscription",
        1,
        DuplicateSubscription,
        "A customer now holds more than one live subscription (for example web and App Store): "
        "entitlements take the best of them; support may want to help them cancel one.",
        DuplicateSubscription(
            customer=_SUB.customer,
            subscription="sub_01JD3K6ZQ8N0V5X2T9E4M7B1CK",
            channel="app_store",
            subscriptions=[
                SubscriptionRef(
                    subscription=_SUB.subscription,
                    channel="web",
                    status="active",
                    plan=_SUB.plan,
                    product=_SUB.product,
                ),
                SubscriptionRef(
                    subscription="sub_01JD3K6ZQ8N0V5X2T9E4M7B1CK",
                    channel="app_store",
                    status="active",
                    plan=_SUB.plan,
                    product=_SUB.product,
                ),
            ],
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
    EventType(
        "subscription.recovered",
        1,
        SubscriptionRecovered,
        "An unpaid renewal (past_due or on_hold) was paid; the subscription is active again.",
        SubscriptionRecovered(
            **_SUB_FIELDS,
            recovered_from="past_due",
            recovery="keep_anchor",
            dunning_started_at="2025-02-28T10:00:00Z",
        ),
    ),
    EventType(
        "subscription.on_hold",
        1,
        SubscriptionOnHold,
        "Grace ran out unpaid: access falls back to Free while retries go on (account hold).",
        SubscriptionOnHold(
            **{**_SUB_FIELDS, "status": "on_hold"},
            hold_ends_at="2025-04-06T10:00:00Z",
            next_payment_attempt="2025-03-12T10:00:00Z",
        ),
    ),
    EventType(
        "subscription.plan_changed",
        1,
        SubscriptionPlanChanged,
        "The plan changed: now (upgrade or interval change) or at the period end (downgrade).",
        SubscriptionPlanChanged(
            **{**_SUB_FIELDS, "plan": "premium_family_monthly", "product": "premium_family"},
            previous_plan="premium_individual_monthly",
            change_type="upgrade",
            effective="now",
        ),
    ),
    EventType(
        "subscription.plan_change_scheduled",
        1,
        SubscriptionPlanChangeScheduled,
        "A plan change was scheduled for the period end (see pending_change).",
        SubscriptionPlanChangeScheduled(
            **{
                **_SUB_FIELDS,
                "pending_change": PendingChangeData(
                    plan="premium_student_monthly", effective_at="2025-03-31T10:00:00Z"
                ),
            },
            change_type="downgrade",
        ),
    ),
    EventType(
        "subscription.plan_change_canceled",
        1,
        SubscriptionPlanChangeCanceled,
        "A plan change scheduled for the period end was dropped.",
        SubscriptionPlanChangeCanceled(**_SUB_FIELDS, canceled_plan="premium_student_monthly"),
    ),
    EventType(
        "subscription.promo_code_applied",
        1,
        SubscriptionPromoCodeApplied,
        "A promo code was redeemed for the subscription's next invoices.",
        SubscriptionPromoCodeApplied(**_SUB_FIELDS, code="SPRING20", periods=3),
    ),
    EventType(
        "subscription.updated",
        1,
        SubscriptionUpdated,
        "A subscription's metadata changed.",
        SubscriptionUpdated(
            **{**_SUB_FIELDS, "metadata": {"campaign": "spring"}}, changed=["metadata"]
        ),
    ),
    EventType(
        "subscription.paused",
        1,
        SubscriptionPaused,
        "The subscription is paused: no access and no invoices until it resumes. Web: the pause "
        "requested with POST /v1/subscriptions/{id}/pause began (pause.resumes_at says until "
        "when); Google Play: the store paused it.",
        SubscriptionPaused(**{**_SUB_FIELDS, "status": "paused", "pause": _PAUSE}, credited=0),
    ),
    EventType(
        "subscription.resumed",
        1,
        SubscriptionResumed,
        "A paused subscription resumed. Web: billing starts again from this moment (the "
        "anchor moved here; the renewal's invoice follows); Google Play: the store renewed it.",
        SubscriptionResumed(**_SUB_FIELDS, ended_pause=_PAUSE),
    ),
    _sub_event(
        "subscription.pause_scheduled",
        "A pause was requested from the period end; access continues until then.",
        pause=msgspec.structs.replace(_PAUSE, status="scheduled"),
    ),
    _sub_event(
        "subscription.pause_ending",
        "The pause ends soon (the catalog's notice_days ahead): billing starts again at "
        "pause.resumes_at.",
        status="paused",
        pause=_PAUSE,
    ),
    EventType(
        "subscription.pause_canceled",
        1,
        SubscriptionPauseCanceled,
        "A pause scheduled for the period end was dropped before it started.",
        SubscriptionPauseCanceled(
            **_SUB_FIELDS, canceled_pause=msgspec.structs.replace(_PAUSE, status="scheduled")
        ),
    ),
    EventType(
        "subscription.retention_offers_shown",
        1,
        SubscriptionRetentionOffersShown,
        "Save offers were shown (GET /v1/subscriptions/{id}/retention_offers answered some): "
        "the denominator of the save rate.",
        SubscriptionRetentionOffersShown(**_SUB_FIELDS, offers=[_OFFER]),
    ),
    EventType(
        "subscription.retention_offer_accepted",
        1,
        SubscriptionRetentionOfferAccepted,
        "The customer took a save offer; reactivated says a cancel at period end was undone.",
        SubscriptionRetentionOfferAccepted(**_SUB_FIELDS, offer=_OFFER, reactivated=False),
    ),
    EventType(
        "subscription.retention_offer_declined",
        1,
        SubscriptionRetentionOfferDeclined,
        "The customer turned a save offer down.",
        SubscriptionRetentionOfferDeclined(**_SUB_FIELDS, offer=_OFFER),
    ),
    EventType(
        "subscription.price_change_scheduled",
        1,
        SubscriptionPriceChangeScheduled,
        "A new price was scheduled for a later renewal (pending_price: amount, effective_at, "
        "consent); under opt_in consent the customer must accept it before effective_at.",
        SubscriptionPriceChangeScheduled(
            **{**_SUB_FIELDS, "pending_price": _PENDING_PRICE},
            price_change="pchg_01JD3K6ZQ8N0V5X2T9E4M7B1DD",
            previous_price=Money(amount=12900, currency="SEK"),
        ),
    ),
    _sub_event(
        "subscription.price_change_accepted",
        "The customer accepted the scheduled price (POST .../price_change/accept).",
        pending_price=msgspec.structs.replace(_PENDING_PRICE, consent="accepted"),
    ),
    EventType(
        "subscription.price_change_applied",
        1,
        SubscriptionPriceChangeApplied,
        "A renewal billed the new price for the first time; price is the new one.",
        SubscriptionPriceChangeApplied(
            **{**_SUB_FIELDS, "price": Money(amount=13900, currency="SEK")},
            previous_price=Money(amount=12900, currency="SEK"),
        ),
    ),
    _sub_event(
        "subscription.reinstated",
        "A store reversed the refund that had ended the subscription; access is back.",
        channel="app_store",
    ),
    EventType(
        "subscription.price_increase",
        1,
        SubscriptionPriceIncrease,
        "A store subscription's price goes up: the store asked the customer (pending) or the "
        "customer agreed (accepted, billed from the next renewal).",
        SubscriptionPriceIncrease(
            **{**_SUB_FIELDS, "channel": "app_store"},
            consent="accepted",
            new_price=Money(amount=14900, currency="SEK"),
            effective_at="2025-03-31T10:00:00Z",
        ),
    ),
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
        "subscription.item_added",
        1,
        SubscriptionItemChanged,
        "An add-on was attached (its first, prorated charge paid); its features are granted.",
        SubscriptionItemChanged(
            **_SUB_FIELDS,
            item=ItemData(
                id="si_01JD3K6ZQ8N0V5X2T9E4M7B1CF",
                plan="audiobooks_addon_monthly",
                product="audiobooks_addon",
                price=Money(amount=9900, currency="SEK"),
                status="active",
            ),
        ),
    ),
    EventType(
        "subscription.item_removed",
        1,
        SubscriptionItemChanged,
        "An add-on was removed; the unused part of its price went to the balance.",
        SubscriptionItemChanged(
            **_SUB_FIELDS,
            item=ItemData(
                id="si_01JD3K6ZQ8N0V5X2T9E4M7B1CF",
                plan="audiobooks_addon_monthly",
                product="audiobooks_addon",
                price=Money(amount=9900, currency="SEK"),
                status="removed",
            ),
        ),
    ),
    _sub_event(
        "subscription.expiring_soon",
        "A prepaid subscription (renews = false) ends in a week; buying again extends it.",
        plan="premium_individual_prepaid_3m",
        market="IN",
        price=Money(amount=39900, currency="INR"),
        renews=False,
    ),
    EventType(
        "subscription.extended",
        1,
        SubscriptionExtended,
        "More time was bought for a prepaid subscription: its period end moved on.",
        SubscriptionExtended(
            **{
                **_SUB_FIELDS,
                "plan": "premium_individual_prepaid_3m",
                "market": "IN",
                "price": Money(amount=39900, currency="INR"),
                "renews": False,
                "current_period_end": "2025-08-28T10:00:00Z",
            },
            extended_from="2025-05-28T10:00:00Z",
        ),
    ),
    EventType(
        "subscription.started",
        1,
        SubscriptionStarted,
        "A subscription created with start_at started: trialing, or incomplete until its first "
        "invoice (which follows) is paid.",
        SubscriptionStarted(
            **{**_SUB_FIELDS, "status": "incomplete"}, scheduled_start="2025-02-28T10:00:00Z"
        ),
    ),
    EventType(
        "subscription.trial_ended",
        1,
        SubscriptionTrialEnded,
        "A trial was ended early on request (POST …/end_trial); the first paid period starts "
        "now and its invoice follows.",
        SubscriptionTrialEnded(
            **{
                **_SUB_FIELDS,
                "status": "trialing",
                "trial_end": "2025-02-28T10:00:00Z",
                "current_period_end": "2025-02-28T10:00:00Z",
            },
            scheduled_trial_end="2025-03-30T10:00:00Z",
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
        "A cancel was requested: at period end (access continues) or now (access ends); "
        "cancellation says why, when the customer said.",
        SubscriptionCanceled(
            **{
                **_SUB_FIELDS,
                "cancel_at_period_end": True,
                "cancellation": CancellationData(reason="too_expensive", comment="Too pricey"),
            },
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
        "invoice.updated",
        1,
        InvoiceUpdated,
        "An invoice's metadata changed.",
        InvoiceUpdated(
            **{**_INVOICE_FIELDS, "metadata": {"po_number": "PO-7"}}, changed=["metadata"]
        ),
    ),
    EventType(
        "invoice.voided",
        1,
        InvoiceData,
        "An open invoice was voided (canceled before it was paid); its credit went back to the "
        "balance.",
        msgspec.structs.replace(_INVOICE, status="void"),
    ),
    EventType(
        "invoice.marked_uncollectible",
        1,
        InvoiceData,
        "Dunning gave up on an invoice (or its subscription ended unpaid); it keeps its credit.",
        msgspec.structs.replace(_INVOICE, status="uncollectible"),
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
        "invoice.payment_action_required",
        1,
        InvoiceActionRequired,
        "The customer must authenticate the payment (3-D Secure) on-session: the client "
        "completes the next_action it was handed (subscribe or pay answers carry it); the "
        "provider's webhook or POST /v1/invoices/{id}/pay then settles the invoice.",
        InvoiceActionRequired(
            **{**_INVOICE_FIELDS, "billing_reason": "subscription_create"},
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
        _DISPUTE,
    ),
    EventType(
        "dispute.won",
        1,
        DisputeData,
        "A dispute was decided for the merchant: the payment stands.",
        msgspec.structs.replace(_DISPUTE, status="won", closed_at="2025-04-20T10:00:00Z"),
    ),
    EventType(
        "dispute.lost",
        1,
        DisputeData,
        "A dispute was decided for the customer: the payment is gone, and the catalog's "
        "dispute policy was applied (policy_applied says what it did).",
        msgspec.structs.replace(
            _DISPUTE, status="lost", closed_at="2025-04-20T10:00:00Z", policy_applied="cancel_now"
        ),
    ),
    EventType(
        "invoice.refunded",
        1,
        InvoiceRefunded,
        "A paid invoice was refunded, in full or in part (a credit note records why).",
        InvoiceRefunded(
            **{**_INVOICE_FIELDS, "status": "paid"},
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
            **{**_INVOICE_FIELDS, "status": "paid", "amount_paid": 12900},
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
                customer=_SUB.customer,
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
            customer=_SUB.customer,
            external_id="user-42",
            product="premium_individual",
            status="active",
            source="subscription",
            subscription=_SUB.subscription,
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
                customer=_SUB.customer,
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
                subscription=_SUB.subscription,
                manager=_SUB.customer,
                product="premium_family",
                customer=_SUB.customer,
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
