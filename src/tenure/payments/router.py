"""Several providers behind one port: each stored method names the provider that holds it.

A new payment method goes to the provider of the customer's market
(``TENURE_PAYMENT_PROVIDER_MARKETS``, e.g. SE and GB on Adyen, US on Stripe) or the default
provider (``TENURE_PAYMENT_PROVIDER``). A charge goes to the provider that stored the method; a
lookup, refund or refund lookup to the provider the journal says the key (or the charge) went
to. A method held by a provider that is not configured is declined (hard), never sent to
another provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from tenure.customers import service as customers
from tenure.db.engine import Database
from tenure.payments import methods
from tenure.payments.journal import Journal
from tenure.payments.ports import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    DeclineClass,
    PaymentProvider,
    RefundRequest,
    RefundResult,
    StoredCard,
)

log = structlog.get_logger(__name__)


class ProviderRouter:
    def __init__(
        self,
        database: Database,
        providers: Mapping[str, PaymentProvider],
        *,
        default: str,
        markets: Mapping[str, str] | None = None,
    ) -> None:
        if default not in providers:
            raise ValueError(f"default provider {default!r} is not configured")
        self.db = database
        self.providers = dict(providers)
        self.default = default
        self.markets = dict(markets or {})
        self.name = default
        self.journal = Journal(database)

    async def aclose(self) -> None:
        await close_provider(*self.providers.values())

    def accepts(self, payment_method: str) -> bool:
        return any(p.accepts(payment_method) for p in self.providers.values())

    def accepted_hint(self) -> str:
        return "; ".join(p.accepted_hint() for p in self.providers.values())

    async def provider_for_customer(self, customer_id: str) -> str:
        if not self.markets:
            return self.default
        async with self.db.read() as session:
            customer = await customers.get(session, customer_id)
        return self.markets.get(customer.market.upper(), self.default)

    async def store_method(
        self, *, customer_id: str, token: str, provider_customer: str | None
    ) -> StoredCard | None:
        provider = self.providers[await self.provider_for_customer(customer_id)]
        store: Any = getattr(provider, "store_method", None)
        if store is None:
            return None  # the sandbox: its test cards are stored as they are
        stored: StoredCard | None = await store(
            customer_id=customer_id, token=token, provider_customer=provider_customer
        )
        return stored

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        async with self.db.read() as session:
            name = await methods.provider_of(session, request.customer_id, request.payment_method)
        name = name or await self.provider_for_customer(request.customer_id)
        provider = self.providers.get(name)
        if provider is None:
            log.error("payments.provider_not_configured", provider=name)
            return ChargeResult(
                ChargeStatus.DECLINED,
                decline_code="provider_not_configured",
                message=f"this payment method is held by {name}, which is not configured",
                decline_class=DeclineClass.HARD,
            )
        return await provider.charge(request)

    async def _by_key(self, key: str, kind: str) -> PaymentProvider | None:
        entry = await self.journal.get(key, kind)
        if entry is not None:
            return self.providers.get(entry.provider)
        return self.providers.get("sandbox")  # the sandbox keeps its own ledger

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        provider = await self._by_key(idempotency_key, "charge")
        return None if provider is None else await provider.lookup(idempotency_key)

    async def complete_authentication(
        self, idempotency_key: str, details: Mapping[str, str]
    ) -> ChargeResult | None:
        provider = await self._by_key(idempotency_key, "charge")
        complete: Any = getattr(provider, "complete_authentication", None)
        if complete is None:
            return None
        result: ChargeResult | None = await complete(idempotency_key, details)
        return result

    async def refund(self, request: RefundRequest) -> RefundResult:
        entry = await self.journal.by_reference(request.charge_id)
        name = entry.provider if entry is not None else None
        if name is None and request.charge_id.startswith("ch_sbx_"):
            name = "sandbox"
        provider = self.providers.get(name or self.default)
        if provider is None:
            return RefundResult(False, message=f"the charge was made by {name}, not configured")
        return await provider.refund(request)

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None:
        provider = await self._by_key(idempotency_key, "refund")
        return None if provider is None else await provider.lookup_refund(idempotency_key)


async def close_provider(*providers: object) -> None:
    """Close the HTTP clients of providers that have one (the sandbox has none)."""
    for provider in providers:
        close = getattr(provider, "aclose", None)
        if close is not None:
            await close()
