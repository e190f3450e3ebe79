"""Dunning in the flows: a failed renewal opens a case; retries, grace, hold and exhaustion run
from the due batch; a payment at any point recovers the subscription.

The rules are pure (:mod:`tenure.dunning.policy`, :mod:`tenure.subscriptions.schedule`); this
module applies them inside the caller's transaction, set-based, and never calls the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.db.base import table_of
from tenure.dunning import cases
from tenure.dunning.config import policy_book
from tenure.dunning.policy import (
    Period,
    is_hard_decline,
    open_case,
    recovered_period,
    retry_after_failure,
)
from tenure.events.record import record as record_events
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import rfc3339
from tenure.payments import attempts, methods
from tenure.payments.models import PaymentAttempt
from tenure.payments.ports import ChargeResult
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.schedule import Due
from tenure.subscriptions.state import DUNNING_STATUSES, TERMINAL_STATUSES, Action, Status

DUNNING_DUES: Final = frozenset({Due.GRACE_EXPIRY, Due.DUNNING_EXHAUSTED, Due.RETRY_PAYMENT})
_attempts = table_of(PaymentAttempt)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


@dataclass
class Ledger:
    """Dunning side of recording payment outcomes (:func:`flows.collect.record_outcomes`)."""

    runtime: Runtime
    open: dict[str, dict[str, Any]]  # subscription id -> open case
    defaults: dict[str, methods.PaymentMethod]  # customer id -> default payment method
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def load(
        cls, runtime: Runtime, session: AsyncSession, locked: Sequence[subs.Sub]
    ) -> Ledger:
        in_dunning = [sub.id for sub in locked if sub.state in DUNNING_STATUSES]
        return cls(
            runtime,
            await cases.open_cases(session, in_dunning, for_update=True),
            await methods.default_for(session, sorted({sub.customer_id for sub in locked})),
        )

    def _blocked(self, sub: subs.Sub, token: str, result: ChargeResult) -> str | None:
        if not is_hard_decline(result.decline_code, result.retryable):
            return None
        default = self.defaults.get(sub.customer_id)
        return default.id if default is not None and default.provider_token == token else token

    def failed(
        self,
        sub: subs.Sub,
        invoice: dict[str, Any],
        token: str,
        result: ChargeResult,
        at: datetime,
    ) -> None:
        """Open a case for a failed renewal, or move the open one on; sets the sub's clocks."""
        if sub.state in (Status.TRIALING, Status.ACTIVE):
            policy = policy_book(self.runtime.catalog).for_subscription(sub.market, sub.product_id)
            clocks = open_case(policy, at)
            case = cases.new_case(
                subscription_id=sub.id,
                invoice_id=invoice["id"],
                customer_id=sub.customer_id,
                policy=policy,
                clocks=clocks,
                decline_code=result.decline_code,
                blocked_method_id=self._blocked(sub, token, result),
            )
            self.inserts.append(case)
            sub.grace_ends_at, sub.hold_ends_at = clocks.grace_ends_at, clocks.hold_ends_at
        elif sub.state in DUNNING_STATUSES:
            found = self.open.get(sub.id)
            if found is None or found["invoice_id"] != invoice["id"]:
                return
            case = found
            policy, clocks = cases.policy_of(case), cases.clocks_of(case)
            case["failures"] += 1
            case["last_decline_code"] = result.decline_code
            case["blocked_method_id"] = self._blocked(sub, token, result)
            self.updates.append(
                {key: case[key] for key in ("id", "failures", "last_decline_code")}
                | {"blocked_method_id": case["blocked_method_id"]}
            )
        else:
            return  # a first payment: incomplete has no dunning
        sub.next_retry_at = retry_after_failure(
            policy,
            clocks,
            failed_at=at,
            decline_code=result.decline_code,
            provider_retryable=result.retryable,
        )
        sub.reschedule(at)

    def recovered(self, sub: subs.Sub, at: datetime) -> dict[str, Any]:
        """The invoice of a sub in dunning was paid: close the case, apply the recovery policy.

        Returns what the ``subscription.recovered`` event adds to the subscription payload.
        """
        case = self.open.get(sub.id)
        policy = (
            cases.policy_of(case)
            if case is not None
            else policy_book(self.runtime.catalog).for_subscription(sub.market, sub.product_id)
        )
        plan = self.runtime.catalog.plans.get(sub.plan_id)
        if plan is not None:
            period = recovered_period(
                policy,
                Period(sub.billing_anchor, sub.current_period_start, sub.current_period_end),
                recovered_at=at,
                interval=plan.interval,
                interval_count=plan.interval_count,
            )
            sub.billing_anchor = period.billing_anchor
            sub.current_period_start, sub.current_period_end = period.start, period.end
        if case is not None:
            self.updates.append({"id": case["id"], "status": "recovered", "closed_at": at})
        extra = {
            "recovered_from": sub.status,
            "recovery": policy.recovery.value,
            "dunning_started_at": _ts(case["started_at"]) if case else None,
        }
        sub.grace_ends_at = sub.hold_ends_at = sub.next_retry_at = None
        return extra

    async def flush(self, session: AsyncSession) -> None:
        await cases.insert_cases(session, self.inserts)
        await cases.update_cases(session, self.updates)


@dataclass
class DueWork:
    """Dunning side of the due batch (:mod:`flows.due`): hold, exhaustion, ladder retries."""

    now: datetime
    actor: str
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    exhausted: list[str] = field(default_factory=list)
    retry: list[subs.Sub] = field(default_factory=list)
    dropped_changes: list[str] = field(default_factory=list)

    def handle(self, sub: subs.Sub, due: Due) -> None:
        if due is Due.GRACE_EXPIRY:
            self.history.append(
                sub.apply(Action.GRACE_EXPIRED, at=self.now, actor=self.actor, reason="grace ended")
            )
            self.events.append(
                sub.event(
                    "subscription.on_hold",
                    at=self.now,
                    hold_ends_at=_ts(sub.hold_ends_at),
                    next_payment_attempt=_ts(sub.next_retry_at),
                )
            )
        elif due is Due.DUNNING_EXHAUSTED:
            sub.ended_at = self.now
            sub.ended_reason = "payment_failed"
            self.dropped_changes.extend(change.id for change in sub.pending.values())
            sub.pending.clear()
            sub.next_retry_at = None
            self.history.append(
                sub.apply(
                    Action.DUNNING_EXHAUSTED, at=self.now, actor=self.actor, reason="payment_failed"
                )
            )
            self.events.append(
                sub.event("subscription.expired", at=self.now, reason="payment_failed")
            )
            self.exhausted.append(sub.id)
        elif due is Due.RETRY_PAYMENT:
            sub.next_retry_at = None  # the outcome sets the next step
            sub.reschedule(self.now)
            self.retry.append(sub)

    async def flush(
        self, session: AsyncSession, changed: Sequence[subs.Sub]
    ) -> list[dict[str, Any]]:
        """Write holds and exhaustion; returns the retry attempts for the batch to insert."""
        await changes.close_ids(session, self.dropped_changes, status="canceled", at=self.now)
        if self.exhausted:
            await invoices.close_for_subscriptions(
                session, self.exhausted, status="uncollectible", at=self.now
            )
            await cases.close_open(session, self.exhausted, status="exhausted", at=self.now)
        ended = [sub.id for sub in changed if sub.state in TERMINAL_STATUSES]
        await cases.close_open(session, ended, status="ended", at=self.now)
        await subs.add_history(session, self.history)
        await record_events(session, self.events)
        return await self._retry_attempts(session)

    async def _retry_attempts(self, session: AsyncSession) -> list[dict[str, Any]]:
        if not self.retry:
            return []
        open_cases = await cases.open_cases(session, [sub.id for sub in self.retry])
        invoice_ids = [case["invoice_id"] for case in open_cases.values()]
        rows = await invoices.load(session, invoice_ids)
        counts: dict[str, int] = dict(
            (
                await session.execute(
                    select(_attempts.c.invoice_id, func.count())
                    .where(_attempts.c.invoice_id.in_(invoice_ids))
                    .group_by(_attempts.c.invoice_id)
                )
            ).all()
        )
        in_flight = set(
            (
                await session.scalars(
                    select(_attempts.c.invoice_id).where(
                        _attempts.c.invoice_id.in_(invoice_ids), _attempts.c.status == "pending"
                    )
                )
            ).all()
        )
        created = []
        for sub in self.retry:
            case = open_cases.get(sub.id)
            invoice = rows.get(case["invoice_id"]) if case else None
            if invoice is None or invoice["status"] != "open" or sub.payment_method is None:
                continue
            if invoice["id"] in in_flight:
                continue  # the recovery sweep resolves it; its outcome schedules the next step
            created.append(
                attempts.new_attempt(
                    invoice_id=invoice["id"],
                    customer_id=sub.customer_id,
                    test_clock_id=sub.test_clock_id,
                    amount=invoice["total"] - invoice["amount_paid"],
                    currency=invoice["currency"],
                    payment_method=sub.payment_method,
                    # Each ladder step is a new attempt, so a new idempotency key.
                    attempt_number=int(counts.get(invoice["id"], 0)) + 1,
                    created_at=self.now,
                )
            )
        return created
