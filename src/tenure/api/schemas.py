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


class CreateSubscription(_Body):
    customer: str
    plan: str
    # A stored payment method id, or a provider token (stored and made the default); without
    # it the customer's default method is charged.
    payment_method: str | None = None
    trial: bool = False


class CancelSubscription(_Body):
    at_period_end: bool = True


class Empty(_Body):
    pass


class PayInvoice(_Body):
    payment_method: str | None = None
