"""Request bodies. Unknown fields are refused so a typo never passes silently."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# Printable text only: a NUL or other control character is never a legitimate value here, and
# PostgreSQL refuses NUL outright. Lengths match the columns.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_PRINTABLE)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_PRINTABLE)]
ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_PRINTABLE)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=_PRINTABLE)]
Name = Annotated[str, msgspec.Meta(max_length=200, pattern=_PRINTABLE)]
Reason = Annotated[str, msgspec.Meta(max_length=300, pattern=_PRINTABLE)]
Timestamp = Annotated[str, msgspec.Meta(max_length=64)]
Short = Annotated[str, msgspec.Meta(max_length=16, pattern=_PRINTABLE)]
# Your own key/value pairs (Stripe's limits: 50 keys, keys up to 40 characters, values up to 500).
MetadataKey = Annotated[
    str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f\[\]]*$")
]
MetadataValue = Annotated[str, msgspec.Meta(max_length=500, pattern=_PRINTABLE)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=50)]
# Integers carry the bounds of their columns, so an out-of-range value is a 422 naming the field
# (it used to reach the driver and answer 500). Counts are 32-bit columns; money is 64-bit.
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


class CreateTestClock(_Body):
    frozen_time: Timestamp
    name: Name | None = None


class AdvanceTestClock(_Body):
    frozen_time: Timestamp


class CreateCustomer(_Body):
    external_id: ExternalId
    email: Email
    market: Short
    test_clock: Id | None = None
    region: Short | None = None  # tax region within the market, e.g. "CA" in the US
    metadata: Metadata = msgspec.field(default_factory=dict)
    billing_day: int | None = None  # 1-31: the day of the month new subscriptions bill on


class UpdateCustomer(_Body):
    """Merged into what is stored; a key set to "" is removed."""

    email: Email | None = None
    metadata: Metadata | None = None
    billing_day: int | None = None  # 1-31 sets it, 0 clears it


class UpdateMetadata(_Body):
    """Merged into what is stored; a key set to "" is removed."""

    metadata: Metadata


class CreateSubscription(_Body):
    customer: Id
    plan: Id
    # A stored payment method id, or a provider token (stored and made the default); without
    # it the customer's default method is charged.
    payment_method: Id | None = None
    trial: bool = False
    # An exact end for the trial (RFC 3339); implies "trial": true.
    trial_end: Timestamp | None = None
    # The first full period starts then (RFC 3339), or on this day of the month (1-31).
    billing_anchor: int | Timestamp | None = None
    # Start later (RFC 3339): the subscription is "scheduled" until then.
    start_at: Timestamp | None = None
    intro_offer: bool = False
    promo_code: Code | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)
    # A win-back offer id from GET /v1/plans?customer= (docs/retention.md#win-back).
    offer: Code | None = None


CancelReasonCode = Literal[
    "too_expensive", "not_using", "technical_issues", "switching_service", "other"
]
# Free text from the customer: stored and sent in events, so never a card number (refused).
CancelComment = Annotated[str, msgspec.Meta(max_length=500, pattern=_PRINTABLE)]


class CancelSubscription(_Body):
    at_period_end: bool = True
    reason: CancelReasonCode | None = None
    comment: CancelComment | None = None


class PauseSubscription(_Body):
    """Give ``resumes_at`` or ``periods``; ``start`` defaults to the catalog's (period_end)."""

    resumes_at: Timestamp | None = None
    periods: Annotated[int, msgspec.Meta(ge=1, le=24)] | None = None
    start: Literal["period_end", "now"] | None = None


class Grandfather(_Body):
    """Cohorts that keep their price: started before a moment, or on these price versions."""

    started_before: Timestamp | None = None
    versions: Annotated[list[Code], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )


class CreatePriceChange(_Body):
    plan: Id
    market: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")]
    version: Code  # a [[price_versions]] entry of the plan in the catalog
    grandfather: Grandfather | None = None


class Empty(_Body):
    pass


class VoidInvoice(_Body):
    reason: Reason | None = None  # required when a person (a role key) voids


# What the provider's front-end library hands over after the customer authenticated (Adyen
# Drop-in/Components ``onAdditionalDetails``: ``state.data.details``, e.g. ``threeDSResult``).
AuthenticationDetails = Annotated[
    dict[
        Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_PRINTABLE)],
        Annotated[str, msgspec.Meta(max_length=20_000, pattern=_PRINTABLE)],
    ],
    msgspec.Meta(min_length=1, max_length=10),
]


class PayInvoice(_Body):
    payment_method: Id | None = None
    authentication_details: AuthenticationDetails | None = None


class AddItem(_Body):
    plan: Id  # an add-on plan for the subscription's product


class ExtendSubscription(_Body):
    plan: Id  # a prepaid plan of the same product


class ChangePlan(_Body):
    plan: Id
    at: Short | None = None  # "now" | "period_end"; default by the change policy
    # Duo/Family to a plan with fewer accounts: remove the household's latest members.
    remove_members: bool = False
    reason: Reason | None = None  # required when a person (a role key) changes on behalf


class RefundInvoice(_Body):
    reason: Reason
    amount: Int64 | None = None  # minor units; the whole refundable amount when absent


class CreatePromoCode(_Body):
    code: Code
    percent_off: Short | None = None  # exact decimal text, "20" or "12.5"
    amount_off: Int64 | None = None  # minor units of ``currency``
    currency: Short | None = None
    duration: Short = "once"  # once | repeating | forever
    duration_periods: Int32 | None = None
    products: list[str] = msgspec.field(default_factory=list)
    markets: list[str] = msgspec.field(default_factory=list)
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    max_redemptions: Int32 | None = None


class ApplyPromoCode(_Body):
    code: Code


class CreateGrant(_Body):
    product: Id
    reason: Reason
    ends_at: Timestamp | None = None
    days: Int32 | None = None


class EntitlementBatch(_Body):
    customers: list[Id] | None = None
    external_ids: list[ExternalId] | None = None


class HouseholdAddress(_Body):
    address: Reason


class CreateInvite(_Body):
    expires_in_hours: Int32 | None = None


class AcceptInvite(_Body):
    customer: Id
    address: Reason | None = None


class LeaveHousehold(_Body):
    customer: Id


ScopeName = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=_PRINTABLE)]


class CreateApiKey(_Body):
    """A role (a person) or scopes (a service), not both."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=_PRINTABLE)]
    role: Short | None = None
    scopes: Annotated[list[ScopeName], msgspec.Meta(max_length=40)] | None = None
    reason: Reason | None = None  # required when a person (a role key) creates it
