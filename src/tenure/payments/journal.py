"""The adapters' request journal and Tenure's customers at each provider.

Every write here is its own short transaction, committed before (``begin``) and after
(``finish``) the provider call: the provider is never called inside a transaction, and a crash
in between leaves a journal row saying the request may have reached the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tenure.db.engine import Database
from tenure.payments.models import ProviderCustomer, ProviderRequest


@dataclass(frozen=True, slots=True)
class Entry:
    idempotency_key: str
    kind: str
    provider: str
    provider_customer: str | None
    amount: int
    currency: str
    reference: str | None
    status: str
    request: dict[str, Any]
    created_at: datetime


def _entry(row: ProviderRequest) -> Entry:
    return Entry(
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        provider=row.provider,
        provider_customer=row.provider_customer,
        amount=row.amount,
        currency=row.currency,
        reference=row.reference,
        status=row.status,
        request=dict(row.request),
        created_at=row.created_at,
    )


class Journal:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def get(self, key: str, kind: str) -> Entry | None:
        async with self.db.read() as session:
            row = await session.get(ProviderRequest, (key, kind))
            return None if row is None else _entry(row)

    async def by_reference(self, reference: str) -> Entry | None:
        async with self.db.read() as session:
            row = await session.scalar(
                select(ProviderRequest).where(ProviderRequest.reference == reference).limit(1)
            )
            return None if row is None else _entry(row)

    async def begin(
        self,
        *,
        key: str,
        kind: str,
        provider: str,
        provider_customer: str | None,
        amount: int,
        currency: str,
        request: dict[str, Any],
    ) -> Entry:
        """The row for ``key`` (an earlier one if this key was already sent)."""
        now = datetime.now(UTC)
        try:
            async with self.db.transaction() as session:
                session.add(
                    ProviderRequest(
                        idempotency_key=key,
                        kind=kind,
                        provider=provider,
                        provider_customer=provider_customer,
                        amount=amount,
                        currency=currency,
                        reference=None,
                        status="sent",
                        request=request,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass  # sent before (a retry or a concurrent caller): the same key, the same request
        found = await self.get(key, kind)
        assert found is not None
        return found

    async def finish(
        self, key: str, kind: str, *, status: str, reference: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": datetime.now(UTC)}
        if reference is not None:
            values["reference"] = reference
        async with self.db.transaction() as session:
            await session.execute(
                update(ProviderRequest)
                .where(ProviderRequest.idempotency_key == key, ProviderRequest.kind == kind)
                .values(**values)
            )

    async def customer(self, customer_id: str, provider: str) -> str | None:
        async with self.db.read() as session:
            row = await session.get(ProviderCustomer, (customer_id, provider))
            return None if row is None else row.external_id

    async def remember_customer(self, customer_id: str, provider: str, external_id: str) -> str:
        """Store the mapping once; a concurrent first use keeps whichever was stored first."""
        try:
            async with self.db.transaction() as session:
                session.add(
                    ProviderCustomer(
                        customer_id=customer_id,
                        provider=provider,
                        external_id=external_id,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            pass
        stored = await self.customer(customer_id, provider)
        assert stored is not None
        return stored
