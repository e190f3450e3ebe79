"""Deriving a customer's entitlements from their live subscription (Free when none)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.catalog.model import Catalog, FeatureValue
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import DUNNING_STATUSES, ENTITLED_STATUSES, Status

# On hold grants nothing, but is read too: the customer is on Free *with* a billing issue.
_READ = [status.value for status in ENTITLED_STATUSES | DUNNING_STATUSES]


@dataclass(frozen=True, slots=True)
class Entitlements:
    customer_id: str
    product: str
    status: str  # the subscription's status, or "free"
    features: dict[str, FeatureValue]
    valid_until: datetime | None
    billing_issue: bool
    source: str  # "subscription" | "free"
    subscription_id: str | None


async def for_customer(session: AsyncSession, catalog: Catalog, customer_id: str) -> Entitlements:
    row = (
        await session.execute(
            select(
                Subscription.id,
                Subscription.product_id,
                Subscription.status,
                Subscription.current_period_end,
                Subscription.grace_ends_at,
            ).where(Subscription.customer_id == customer_id, Subscription.status.in_(_READ))
        )
    ).first()
    if row is not None and row.status == Status.ON_HOLD:
        free = catalog.free
        return Entitlements(
            customer_id, free.id, row.status, _enabled(free.features), None, True, "free", row.id
        )
    if row is None or row.product_id not in catalog.products:
        free = catalog.free
        return Entitlements(
            customer_id, free.id, "free", _enabled(free.features), None, False, "free", None
        )
    product = catalog.products[row.product_id]
    past_due = row.status == Status.PAST_DUE
    valid_until = row.grace_ends_at if past_due and row.grace_ends_at else row.current_period_end
    return Entitlements(
        customer_id,
        product.id,
        row.status,
        _enabled(product.features),
        valid_until,
        past_due,
        "subscription",
        row.id,
    )


def _enabled(features: Any) -> dict[str, FeatureValue]:
    """Features that are granted: ``false`` flags are left out so callers can test membership."""
    return {name: value for name, value in features.items() if value is not False}
