"""The payment-provider port. Vendor types never cross it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    idempotency_key: str
    customer_id: str
    amount: int
    currency: str
    payment_method: str
    description: str


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    charge_id: str | None = None
    decline_code: str | None = None
    message: str | None = None
    # A soft decline (insufficient funds) may succeed later on the same card; a hard one won't.
    retryable: bool = False


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


class ProviderUnavailable(Exception):
    """The outcome is unknown (timeout, reset, 5xx): ask the provider about the key first."""


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
