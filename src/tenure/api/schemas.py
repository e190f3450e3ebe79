"""Request bodies. Unknown fields are refused so a typo never passes silently."""

from __future__ import annotations

from typing import Annotated

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


class UpdateCustomer(_Body):
    """Merged into what is stored; a key set to "" is removed."""

    email: Email | None = None
    metadata: Metadata | None = None


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
    intro_offer: bool = False
    promo_code: Code | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class CancelSubscription(_Body):
    at_period_end: bool = True


class Empty(_Body):
    pass


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


class ChangePlan(_Body):
    plan: Id
    at: Short | None = None  # "now" | "period_end"; default by the change policy
    # Duo/Family to a plan with fewer accounts: remove the household's latest members.
    remove_members: bool = False


class RefundInvoice(_Body):
    reason: Reason
    amount: int | None = None  # minor units; the whole refundable amount when absent


class CreatePromoCode(_Body):
    code: Code
    percent_off: Short | None = None  # exact decimal text, "20" or "12.5"
    amount_off: int | None = None  # minor units of ``currency``
    currency: Short | None = None
    duration: Short = "once"  # once | repeating | forever
    duration_periods: int | None = None
    products: list[str] = msgspec.field(default_factory=list)
    markets: list[str] = msgspec.field(default_factory=list)
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    max_redemptions: int | None = None


class ApplyPromoCode(_Body):
    code: Code


class CreateGrant(_Body):
    product: Id
    reason: Reason
    ends_at: Timestamp | None = None
    days: int | None = None


class EntitlementBatch(_Body):
    customers: list[Id] | None = None
    external_ids: list[ExternalId] | None = None


class HouseholdAddress(_Body):
    address: Reason


class CreateInvite(_Body):
    expires_in_hours: int | None = None


class AcceptInvite(_Body):
    customer: Id
    address: Reason | None = None


class LeaveHousehold(_Body):
    customer: Id
