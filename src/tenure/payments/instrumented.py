"""Latency metrics and a client span for every payment-provider call.

Wraps any :class:`PaymentProvider` (outermost, around the rate limiter, so the measured time
is what a caller waits). Spans carry the operation, the provider and the outcome, never the
request's payment method, amount or idempotency key.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from tenure.observability import tracing
from tenure.observability.metrics import PROVIDER_LATENCY
from tenure.payments.ports import (
    ChargeRequest,
    ChargeResult,
    PaymentProvider,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    StoredCard,
)

T = TypeVar("T")


def _outcome(result: object) -> str:
    if result is None:
        return "not_found"
    if isinstance(result, ChargeResult):
        return result.status.value
    if isinstance(result, RefundResult):
        return "succeeded" if result.succeeded else "failed"
    return "ok"


class InstrumentedProvider:
    def __init__(self, inner: PaymentProvider) -> None:
        self.inner = inner
        self.name = inner.name

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        outcome = "error"
        with tracing.span(
            f"provider.{operation}",
            kind=tracing.SpanKind.CLIENT,
            attributes={"tenure.provider": self.name, "tenure.provider.operation": operation},
        ) as span:
            try:
                result = await call()
                outcome = _outcome(result)
                return result
            except ProviderUnavailable:
                outcome = "unavailable"
                raise
            finally:
                if span.is_recording():
                    span.set_attribute("tenure.provider.outcome", outcome)
                PROVIDER_LATENCY.labels(self.name, operation, outcome).observe(
                    time.perf_counter() - started
                )

    def accepts(self, payment_method: str) -> bool:
        return self.inner.accepts(payment_method)

    def accepted_hint(self) -> str:
        return self.inner.accepted_hint()

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        return await self._call("charge", lambda: self.inner.charge(request))

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        return await self._call("lookup", lambda: self.inner.lookup(idempotency_key))

    async def refund(self, request: RefundRequest) -> RefundResult:
        return await self._call("refund", lambda: self.inner.refund(request))

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None:
        return await self._call("lookup_refund", lambda: self.inner.lookup_refund(idempotency_key))

    async def complete_authentication(
        self, idempotency_key: str, details: Mapping[str, str]
    ) -> ChargeResult | None:
        """Adyen forwards the shopper's authentication result; None for the others."""
        complete = getattr(self.inner, "complete_authentication", None)
        if complete is None:
            return None
        result: ChargeResult | None = await self._call(
            "complete_authentication", lambda: complete(idempotency_key, details)
        )
        return result

    async def store_method(
        self, *, customer_id: str, token: str, provider_customer: str | None
    ) -> StoredCard | None:
        """The wrapped provider stores the card (Stripe, Adyen); None for the sandbox. Without
        this, a served Tenure would store real providers' tokens as sandbox cards."""
        store = getattr(self.inner, "store_method", None)
        if store is None:
            return None
        stored: StoredCard | None = await self._call(
            "store_method",
            lambda: store(
                customer_id=customer_id, token=token, provider_customer=provider_customer
            ),
        )
        return stored

    async def aclose(self) -> None:
        """Close what the wrapped provider holds (HTTP clients, a Redis limiter)."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


def instrumented(provider: PaymentProvider) -> PaymentProvider:
    return InstrumentedProvider(provider)
