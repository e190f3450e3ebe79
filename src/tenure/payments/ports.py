"""The payment-provider port. Vendor types never cross it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


class DeclineClass(StrEnum):
    """Tenure's classes of a declined charge (docs/payments.md has the mapping table).

    ``soft``: retry the same payment method later (the retry ladder). ``hard``: stop using this
    method, ask the customer for another. ``action_required``: the customer must come
    on-session (3-D Secure); off-session it is handled as a hard decline.
    """

    SOFT = "soft"
    HARD = "hard"
    ACTION_REQUIRED = "action_required"


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    idempotency_key: str
    customer_id: str
    amount: int
    currency: str
    payment_method: str
    description: str
    # False: a merchant-initiated renewal (customer absent); True: the customer is present and
    # can authenticate (the first payment), so 3-D Secure may be asked for.
    on_session: bool = False
    # Where a redirect-based authentication returns the customer (Adyen's ``returnUrl``).
    return_url: str | None = None


@dataclass(frozen=True, slots=True)
class NextAction:
    """What the client must do to complete an authentication (3-D Secure).

    Stripe: the PaymentIntent's ``client_secret`` for Stripe.js ``handleNextAction``.
    Adyen: the ``action`` object for the Adyen Web/Drop-in ``handleAction``.
    """

    provider: str
    type: str
    reference: str  # the PaymentIntent id / pspReference the completion refers to
    client_secret: str | None = None
    action: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    charge_id: str | None = None
    decline_code: str | None = None
    message: str | None = None
    # A soft decline (insufficient funds) may succeed later on the same card; a hard one won't.
    retryable: bool = False
    # Optional, filled by the real providers' adapters (the sandbox leaves the defaults).
    decline_class: DeclineClass | None = None
    next_action: NextAction | None = None
    provider: str | None = None
    # The provider's raw decline fields (decline_code, advice_code, refusalReasonCode, ...), so
    # the class mapping can change without losing history.
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefundRequest:
    idempotency_key: str
    charge_id: str
    amount: int
    currency: str
    reason: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    succeeded: bool
    refund_id: str | None = None
    message: str | None = None
    # False when the provider accepted the refund but confirms it later by webhook (Adyen's
    # ``received``; a Stripe refund in ``pending``).
    settled: bool = True


class ProviderUnavailable(Exception):
    """The outcome is unknown (timeout, reset, 5xx): ask the provider about the key first."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, from the provider's ``Retry-After``


class PaymentPending(ProviderUnavailable):
    """The provider accepted the payment and decides later (Stripe ``processing``, Adyen
    ``Received``/``Pending``): the attempt stays pending until a lookup or webhook says."""


@dataclass(frozen=True, slots=True)
class StoredCard:
    """A payment method as the provider stores it: its token and the card's display data."""

    provider: str
    token: str  # Stripe ``pm_…``; Adyen ``storedPaymentMethodId``
    provider_customer: str  # Stripe ``cus_…``; Adyen ``shopperReference``
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class MethodVault(Protocol):
    """Optional: a provider that stores cards for customers (Stripe, Adyen)."""

    async def store_method(
        self, *, customer_id: str, token: str, provider_customer: str | None
    ) -> StoredCard:
        """Attach ``token`` to the provider's customer for ``customer_id`` (created on first
        use unless ``provider_customer`` names one) and return the card's details."""
        ...


class AuthenticationCompleter(Protocol):
    """Optional: a provider whose server must forward the customer's authentication result
    (Adyen's ``/payments/details``; Stripe.js confirms on the client, so Stripe has none)."""

    async def complete_authentication(
        self, idempotency_key: str, details: Mapping[str, str]
    ) -> ChargeResult | None:
        """The payment's outcome once ``details`` are sent; None if no payment has that key."""
        ...


class PaymentProvider(Protocol):
    name: str

    def accepts(self, payment_method: str) -> bool:
        """Whether ``payment_method`` is a token this provider knows how to charge."""
        ...

    def accepted_hint(self) -> str:
        """A short sentence telling a developer which payment methods work here."""
        ...

    async def charge(self, request: ChargeRequest) -> ChargeResult: ...

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The outcome of an earlier charge with this key, or ``None`` if none reached it."""
        ...

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None: ...
