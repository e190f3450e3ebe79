"""Request bodies. Unknown fields are refused so a typo never passes silently."""

from __future__ import annotations

import msgspec


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


class CreateTestClock(_Body):
    frozen_time: str
    name: str | None = None


class AdvanceTestClock(_Body):
    frozen_time: str


class CreateCustomer(_Body):
    external_id: str
    email: str
    market: str
    test_clock: str | None = None
    region: str | None = None  # tax region within the market, e.g. "CA" in the US


class CreateSubscription(_Body):
    customer: str
    plan: str
    payment_method: str
    trial: bool = False
    intro_offer: bool = False
    promo_code: str | None = None


class CancelSubscription(_Body):
    at_period_end: bool = True


class Empty(_Body):
    pass


class PayInvoice(_Body):
    payment_method: str | None = None


class ChangePlan(_Body):
    plan: str
    at: str | None = None  # "now" | "period_end"; default by the change policy
    # Duo/Family to a plan with fewer accounts: remove the household's latest members.
    remove_members: bool = False


class RefundInvoice(_Body):
    reason: str
    amount: int | None = None  # minor units; the whole refundable amount when absent


class CreatePromoCode(_Body):
    code: str
    percent_off: str | None = None  # exact decimal text, "20" or "12.5"
    amount_off: int | None = None  # minor units of ``currency``
    currency: str | None = None
    duration: str = "once"  # once | repeating | forever
    duration_periods: int | None = None
    products: list[str] = msgspec.field(default_factory=list)
    markets: list[str] = msgspec.field(default_factory=list)
    valid_from: str | None = None
    valid_until: str | None = None
    max_redemptions: int | None = None


class ApplyPromoCode(_Body):
    code: str


class CreateGrant(_Body):
    product: str
    reason: str
    ends_at: str | None = None
    days: int | None = None


class EntitlementBatch(_Body):
    customers: list[str] | None = None
    external_ids: list[str] | None = None


class HouseholdAddress(_Body):
    address: str


class CreateInvite(_Body):
    expires_in_hours: int | None = None


class AcceptInvite(_Body):
    customer: str
    address: str | None = None


class LeaveHousehold(_Body):
    customer: str
