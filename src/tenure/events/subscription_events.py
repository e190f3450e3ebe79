"""The ``subscription.*`` part of the event catalog (tenure.events.catalog)."""

from __future__ import annotations

from typing import Final

import msgspec

from tenure.events.examples import (
    OFFER,
    PAUSE,
    PENDING_PRICE,
    SUB_FIELDS,
    EventType,
    sub_event,
)
from tenure.events.payloads import (
    CancellationData,
    ItemData,
    Money,
    PendingChangeData,
    SubscriptionCanceled,
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
    SubscriptionResumed,
    SubscriptionRetentionOfferAccepted,
    SubscriptionRetentionOfferDeclined,
    SubscriptionRetentionOffersShown,
    SubscriptionStarted,
    SubscriptionTrialEnded,
    SubscriptionUpdated,
)

SUBSCRIPTION_EVENTS: Final[tuple[EventType, ...]] = (
    sub_event(
        "subscription.created",
        "A subscription started: trialing, or incomplete until its first payment succeeds.",
        status="incomplete",
    ),
    sub_event(
        "subscription.activated",
        "The first payment (or the payment that ends a trial) succeeded; access is granted.",
    ),
    sub_event("subscription.renewed", "A renewal was paid; the new period has started."),
    EventType(
        "subscription.past_due",
        1,
        SubscriptionPastDue,
        "A renewal payment failed; access continues through the grace period.",
        SubscriptionPastDue(
            **{**SUB_FIELDS, "status": "past_due"}, decline_code="insufficient_funds"
        ),
    ),
    EventType(
        "subscription.recovered",
        1,
        SubscriptionRecovered,
        "An unpaid renewal (past_due or on_hold) was paid; the subscription is active again.",
        SubscriptionRecovered(
            **SUB_FIELDS,
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
            **{**SUB_FIELDS, "status": "on_hold"},
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
            **{**SUB_FIELDS, "plan": "premium_family_monthly", "product": "premium_family"},
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
                **SUB_FIELDS,
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
        SubscriptionPlanChangeCanceled(**SUB_FIELDS, canceled_plan="premium_student_monthly"),
    ),
    EventType(
        "subscription.promo_code_applied",
        1,
        SubscriptionPromoCodeApplied,
        "A promo code was redeemed for the subscription's next invoices.",
        SubscriptionPromoCodeApplied(**SUB_FIELDS, code="SPRING20", periods=3),
    ),
    EventType(
        "subscription.updated",
        1,
        SubscriptionUpdated,
        "A subscription's metadata changed.",
        SubscriptionUpdated(
            **{**SUB_FIELDS, "metadata": {"campaign": "spring"}}, changed=["metadata"]
        ),
    ),
    EventType(
        "subscription.paused",
        1,
        SubscriptionPaused,
        "The subscription is paused: no access and no invoices until it resumes. Web: the pause "
        "requested with POST /v1/subscriptions/{id}/pause began (pause.resumes_at says until "
        "when); Google Play: the store paused it.",
        SubscriptionPaused(**{**SUB_FIELDS, "status": "paused", "pause": PAUSE}, credited=0),
    ),
    EventType(
        "subscription.resumed",
        1,
        SubscriptionResumed,
        "A paused subscription resumed. Web: billing starts again from this moment (the "
        "anchor moved here; the renewal's invoice follows); Google Play: the store renewed it.",
        SubscriptionResumed(**SUB_FIELDS, ended_pause=PAUSE),
    ),
    sub_event(
        "subscription.pause_scheduled",
        "A pause was requested from the period end; access continues until then.",
        pause=msgspec.structs.replace(PAUSE, status="scheduled"),
    ),
    sub_event(
        "subscription.pause_ending",
        "The pause ends soon (the catalog's notice_days ahead): billing starts again at "
        "pause.resumes_at.",
        status="paused",
        pause=PAUSE,
    ),
    EventType(
        "subscription.pause_canceled",
        1,
        SubscriptionPauseCanceled,
        "A pause scheduled for the period end was dropped before it started.",
        SubscriptionPauseCanceled(
            **SUB_FIELDS, canceled_pause=msgspec.structs.replace(PAUSE, status="scheduled")
        ),
    ),
    EventType(
        "subscription.retention_offers_shown",
        1,
        SubscriptionRetentionOffersShown,
        "Save offers were shown (GET /v1/subscriptions/{id}/retention_offers answered some): "
        "the denominator of the save rate.",
        SubscriptionRetentionOffersShown(**SUB_FIELDS, offers=[OFFER]),
    ),
    EventType(
        "subscription.retention_offer_accepted",
        1,
        SubscriptionRetentionOfferAccepted,
        "The customer took a save offer; reactivated says a cancel at period end was undone.",
        SubscriptionRetentionOfferAccepted(**SUB_FIELDS, offer=OFFER, reactivated=False),
    ),
    EventType(
        "subscription.retention_offer_declined",
        1,
        SubscriptionRetentionOfferDeclined,
        "The customer turned a save offer down.",
        SubscriptionRetentionOfferDeclined(**SUB_FIELDS, offer=OFFER),
    ),
    EventType(
        "subscription.price_change_scheduled",
        1,
        SubscriptionPriceChangeScheduled,
        "A new price was scheduled for a later renewal (pending_price: amount, effective_at, "
        "consent); under opt_in consent the customer must accept it before effective_at.",
        SubscriptionPriceChangeScheduled(
            **{**SUB_FIELDS, "pending_price": PENDING_PRICE},
            price_change="pchg_01JD3K6ZQ8N0V5X2T9E4M7B1DD",
            previous_price=Money(amount=12900, currency="SEK"),
        ),
    ),
    sub_event(
        "subscription.price_change_accepted",
        "The customer accepted the scheduled price (POST .../price_change/accept).",
        pending_price=msgspec.structs.replace(PENDING_PRICE, consent="accepted"),
    ),
    EventType(
        "subscription.price_change_applied",
        1,
        SubscriptionPriceChangeApplied,
        "A renewal billed the new price for the first time; price is the new one.",
        SubscriptionPriceChangeApplied(
            **{**SUB_FIELDS, "price": Money(amount=13900, currency="SEK")},
            previous_price=Money(amount=12900, currency="SEK"),
        ),
    ),
    sub_event(
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
            **{**SUB_FIELDS, "channel": "app_store"},
            consent="accepted",
            new_price=Money(amount=14900, currency="SEK"),
            effective_at="2025-03-31T10:00:00Z",
        ),
    ),
    sub_event(
        "subscription.reactivated",
        "A cancel at period end was undone before the period ended.",
    ),
    sub_event(
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
                **SUB_FIELDS,
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
            **SUB_FIELDS,
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
            **SUB_FIELDS,
            item=ItemData(
                id="si_01JD3K6ZQ8N0V5X2T9E4M7B1CF",
                plan="audiobooks_addon_monthly",
                product="audiobooks_addon",
                price=Money(amount=9900, currency="SEK"),
                status="removed",
            ),
        ),
    ),
    sub_event(
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
                **SUB_FIELDS,
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
            **{**SUB_FIELDS, "status": "incomplete"}, scheduled_start="2025-02-28T10:00:00Z"
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
                **SUB_FIELDS,
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
                **SUB_FIELDS,
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
                **SUB_FIELDS,
                "cancel_at_period_end": True,
                "cancellation": CancellationData(reason="too_expensive", comment="Too pricey"),
            },
            at_period_end=True,
            voided_invoices=[],
        ),
    ),
)
