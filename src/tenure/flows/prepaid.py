"""Prepaid plans (``renews = false``): buying more time extends a live prepaid subscription.

An extension is invoiced (``billing_reason: prepaid_extension``) for the period that follows
the time already bought, ``[current end, current end + the plan's period)``, and charged at
once. Paid, the subscription's period end moves there (``subscription.extended``): time is
added, never overlapped. Declined, the invoice is voided and nothing changes (402, as a plan
change does). A prepaid subscription never renews and never enters dunning: at its end it
expires (``prepaid_ended``), with ``subscription.expiring_soon`` a week before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tenure.billing import balance
from tenure.billing import service as invoices
from tenure.billing.invoicing import LineDraft, build_invoice
from tenure.billing.records import BillingReason, InvoiceStatus, void
from tenure.flows.change_plan import _raise_if_declined
from tenure.flows.collect import collect
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.opening import open_invoice
from tenure.flows.outcomes import Settlement, payment_failed_event
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.calendar import add_interval
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.subscriptions import record as subs
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.state import Status


@dataclass(frozen=True, slots=True)
class Extension:
    subscription_id: str
    invoice_id: str


async def extend(runtime: Runtime, *, subscription_id: str, plan_id: str, actor: str) -> Extension:
    """Buy ``plan_id``'s period again for a live prepaid subscription of the same product.

    Refused, changing nothing: 409 ``subscription_not_prepaid``, ``subscription_not_active``,
    ``payment_in_progress`` (an extension or charge is open); 422 ``plan_not_extendable``.
    """
    plan = runtime.catalog.plan(plan_id)
    async with runtime.db.transaction() as session:
        sub = await subs.load_one(session, subscription_id, for_update=True)
        if sub is None:
            raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
        require_web(sub, "extend")
        if sub.renews:
            raise Conflict(
                f"{sub.id} renews by itself; only prepaid subscriptions are extended",
                code="subscription_not_prepaid",
            )
        if sub.state is not Status.ACTIVE or sub.cancel_at_period_end:
            raise Conflict(
                f"{sub.id} is {sub.status}; buy a new subscription instead",
                code="subscription_not_active",
            )
        if plan.renews or plan.product != sub.product_id or sub.market not in plan.prices:
            raise InvalidRequest(
                f"{plan_id} is not a prepaid plan of {sub.product_id} sold in {sub.market}",
                code="plan_not_extendable",
            )
        if await invoices.open_for_subscriptions(session, [sub.id]):
            raise Conflict(
                f"{sub.id} has an invoice being paid; retry when it is settled",
                code="payment_in_progress",
            )
        now = await runtime.now_for(session, sub.test_clock_id)
        start = sub.current_period_end
        end = add_interval(start, plan.interval, plan.interval_count)
        product = runtime.catalog.products.get(sub.product_id)
        name = f"{product.name if product else sub.product_id} ({plan.id})"
        invoice = build_invoice(
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            currency=sub.currency,
            billing_reason=BillingReason.PREPAID_EXTENSION,
            period_start=start,
            period_end=end,
            lines=[LineDraft(f"{name}, extension", plan.id, start, end, plan.prices[sub.market])],
            tax=runtime.tax_rule(sub.market, sub.region),
            created_at=now,
        )
        await balance.settle(session, [invoice], at=now)
        uow = UnitOfWork(runtime, session, actor)
        attempt = open_invoice(uow, invoice, sub, payment_method=sub.payment_method, at=now)
        if attempt is None:  # credit covered it
            extended(uow, sub, invoice.period_start, invoice.period_end, plan.id, now)
        await uow.flush()
    if attempt is not None:
        outcomes = await collect(runtime, [attempt.id], actor=actor)
        _raise_if_declined(outcomes, invoice.id)
    return Extension(subscription_id, invoice.id)


def extended(
    uow: UnitOfWork,
    sub: subs.Sub,
    start: datetime,
    end: datetime,
    plan_id: str | None,
    at: datetime,
) -> None:
    """The extension is paid: the time bought follows the time the subscription had (an
    extension paid after the subscription ended changes nothing; the cash was captured on an
    open invoice of an ended subscription only if it was voided, which refunds it)."""
    if sub.state is not Status.ACTIVE or sub.current_period_end != start:
        return
    sub.current_period_end = end
    sub.trial_notice_sent = False  # a new expiring-soon notice before the new end
    if plan_id is not None:
        sub.plan_id = plan_id
    sub.reschedule(at)
    uow.track(sub)
    uow.record(sub.note("extended", at=at, actor=uow.actor, reason=f"until {rfc3339(end)}"))
    uow.emit(sub.event("subscription.extended", at=at, extended_from=rfc3339(start)))


class PrepaidExtension:
    """Outcomes of ``prepaid_extension`` invoices."""

    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        # paid() reads the plan bought from the invoice's line.
        await invoices.with_lines(uow.session, [item.invoice for item in items])

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        if item.sub is not None:
            invoice = item.invoice
            plan_id = invoice.lines[0].plan_id if invoice.lines else None
            extended(uow, item.sub, invoice.period_start, invoice.period_end, plan_id, item.at)

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        """Declined: the invoice is voided (its credit returned); the time stays as it was."""
        uow.emit(payment_failed_event(item))
        if item.invoice.status is InvoiceStatus.OPEN:
            credit = void(item.invoice, at=item.at)
            uow.give_back(item.invoice, credit, reason="invoice_voided", at=item.at)
            uow.invoice_changed(item.invoice)

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        return None
