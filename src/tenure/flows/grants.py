"""Support grants: give a customer a product for a period; revoke; end on time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from tenure.access import audit
from tenure.customers import service as customers
from tenure.entitlements import grants
from tenure.events.record import record as record_events
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import InvalidRequest

MAX_DAYS: Final = 3660
BATCH: Final = 500


async def create(
    runtime: Runtime,
    *,
    customer_id: str,
    product: str,
    ends_at: datetime | None,
    days: int | None,
    reason: str,
    actor: str,
) -> dict[str, Any]:
    """Effects: ``grant.created`` and, when what the customer sees changes,
    ``entitlements.changed``, in one transaction."""
    found = runtime.catalog.products.get(product)
    if found is None or found.free:
        known = ", ".join(sorted(p.id for p in runtime.catalog.products.values() if not p.free))
        raise InvalidRequest(
            f"{product!r} cannot be granted; grantable products: {known}", code="unknown_product"
        )
    if not reason.strip() or len(reason) > 500 or "\x00" in reason:
        raise InvalidRequest(
            "reason must say why (1 to 500 characters)", code="invalid_grant_reason"
        )
    if (ends_at is None) == (days is None):
        raise InvalidRequest('give exactly one of "ends_at" or "days"', code="invalid_grant_period")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be between 1 and {MAX_DAYS}", code="invalid_grant_period")
    async with runtime.db.transaction() as session:
        customer = await customers.get(session, customer_id, for_update=True)
        now = await runtime.now_for(session, customer.test_clock_id)
        end = ends_at if ends_at is not None else now + timedelta(days=days or 0)
        if end <= now:
            raise InvalidRequest(
                "ends_at must be after the customer's current time", code="invalid_grant_period"
            )
        if end > now + timedelta(days=MAX_DAYS):
            raise InvalidRequest(
                f"a grant lasts at most {MAX_DAYS} days", code="invalid_grant_period"
            )
        row = await grants.create(
            session,
            customer_id=customer.id,
            test_clock_id=customer.test_clock_id,
            product_id=product,
            reason=reason.strip(),
            starts_at=now,
            ends_at=end,
            actor=actor,
        )
        await record_events(session, grants.events("grant.created", [row], at=now))
        await audit.write(
            session,
            actor=actor,
            action="create_grant",
            target_type="grant",
            target_id=str(row["id"]),
            customer_id=customer.id,
            after={"product": product, "ends_at": rfc3339(end)},
            reason=reason.strip(),
        )
    return row


async def revoke(
    runtime: Runtime, *, customer_id: str, grant_id: str, actor: str
) -> dict[str, Any]:
    async with runtime.db.transaction() as session:
        customer = await customers.get(session, customer_id, for_update=True)
        row = await grants.get(session, customer_id, grant_id, for_update=True)
        now = await runtime.now_for(session, customer.test_clock_id)
        revoked = await grants.revoke(session, row, at=now)
        await record_events(session, grants.events("grant.revoked", [revoked], at=now))
        await audit.write(
            session,
            actor=actor,
            action="revoke_grant",
            target_type="grant",
            target_id=grant_id,
            customer_id=customer.id,
            before={"product": row["product_id"], "status": "active"},
            after={"status": "revoked"},
        )
    return revoked


async def end_due(runtime: Runtime, *, test_clock_id: str | None, now: datetime) -> int:
    """End every grant whose time is up (worker and test clocks); returns how many ended."""
    total = 0
    while True:
        async with runtime.db.transaction() as session:
            ended = await grants.end_due(session, test_clock_id=test_clock_id, now=now, limit=BATCH)
            for row in ended:
                await record_events(session, grants.events("grant.ended", [row], at=row["ends_at"]))
        total += len(ended)
        if len(ended) < BATCH:
            return total
