"""Re-running what is due for one subscription (``tenure subscription rerun``), idempotently.

The same code the worker runs, scoped to one subscription: payment attempts of its invoices
whose lease ran out are resolved first (asking the provider about their key), then its due
actions run at its own time (its test clock's, or now) until nothing is due. Running it twice,
or beside a worker, does no work twice: attempts are recorded once (locked, still pending), and
due work claims the row and skips it once handled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import func, select, update

from tenure.billing.models import Invoice
from tenure.flows.collect import collect
from tenure.flows.due import run_due
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import NotFound
from tenure.payments.attempts import LEASE
from tenure.payments.models import PaymentAttempt
from tenure.subscriptions.models import Subscription, SubscriptionHistory

MAX_ROUNDS: Final = 100  # a subscription years behind runs one due action per round
ACTOR: Final = "cli:rerun"


@dataclass
class Rerun:
    subscription_id: str
    at: datetime
    status_before: str
    status_after: str = ""
    next_action_at: datetime | None = None
    payments_resolved: int = 0
    actions: list[str] = field(default_factory=list)


async def _state(runtime: Runtime, sub_id: str) -> Subscription:
    async with runtime.db.read() as session:
        sub = await session.get(Subscription, sub_id)
        if sub is None:
            raise NotFound(f"no subscription {sub_id!r}", code="subscription_not_found")
        session.expunge(sub)
        return sub


async def _claim_stale_attempts(runtime: Runtime, sub_id: str) -> list[str]:
    a, i = PaymentAttempt, Invoice
    wall = datetime.now(UTC)
    async with runtime.db.transaction() as session:
        ids = list(
            (
                await session.scalars(
                    select(a.id)
                    .join(i, i.id == a.invoice_id)
                    .where(
                        i.subscription_id == sub_id,
                        a.status == "pending",
                        a.lease_until < wall,
                    )
                )
            ).all()
        )
        if ids:
            await session.execute(
                update(a)
                .where(a.id.in_(ids), a.status == "pending", a.lease_until < wall)
                .values(lease_until=wall + LEASE)
            )
    return ids


async def rerun(runtime: Runtime, sub_id: str) -> Rerun:
    sub = await _state(runtime, sub_id)
    async with runtime.db.read() as session:
        now = await runtime.now_for(session, sub.test_clock_id)
        h = SubscriptionHistory
        before = await session.scalar(
            select(func.coalesce(func.max(h.pk), 0)).where(h.subscription_id == sub_id)
        )
    result = Rerun(sub_id, now, sub.status)
    stale = await _claim_stale_attempts(runtime, sub_id)
    outcomes = await collect(runtime, stale, actor=ACTOR, recovering=True)
    result.payments_resolved = sum(1 for outcome in outcomes if outcome.result is not None)
    for _ in range(MAX_ROUNDS):
        handled = await run_due(
            runtime, test_clock_id=sub.test_clock_id, now=now, actor=ACTOR, limit=1, only=sub_id
        )
        if handled == 0:
            break
    async with runtime.db.read() as session:
        result.actions = list(
            (
                await session.scalars(
                    select(h.action)
                    .where(h.subscription_id == sub_id, h.pk > before)
                    .order_by(h.pk)
                )
            ).all()
        )
    after = await _state(runtime, sub_id)
    result.status_after, result.next_action_at = after.status, after.next_action_at
    return result
