"""Renewals: the next period's invoice, and what its payment outcome means.

The due batch (:mod:`tenure.flows.due`) calls :func:`renew` for each subscription whose period
ended; the invoice is collected after commit, and its outcome comes back to
:class:`RenewalPayment`: renewed (or the trial converted), recovered from dunning, or a failure
that opens or moves a dunning case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tenure.billing import service as invoices
from tenure.billing.invoicing import build_invoice
from tenure.billing.promotions import ActiveDiscount
from tenure.billing.records import BillingReason, InvoiceRecord
from tenure.flows import dunning
from tenure.flows.lines import offer_line, period_lines
from tenure.flows.outcomes import Settlement
from tenure.flows.unit import UnitOfWork
from tenure.kernel.calendar import boundary, period_index
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.items import Item
from tenure.subscriptions.record import Sub
from tenure.subscriptions.state import DUNNING_STATUSES, Action, Status


class RenewalPayment:
    """Outcomes of ``subscription_cycle`` and ``trial_end`` invoices."""

    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        await uow.load_dunning(item.sub for item in items if item.sub is not None)
        # A recovery on hold may credit the hold's days: it needs the paid invoice's lines.
        held = [item.invoice for item in items if item.sub and item.sub.state is Status.ON_HOLD]
        await invoices.with_lines(uow.session, held)

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        sub = item.sub
        if sub is None:
            return
        if sub.state in DUNNING_STATUSES:
            dunning.recovered(uow, sub, item.at, invoice=item.invoice)
        else:
            renewed(uow, sub, item.at)

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        dunning.renewal_failed(uow, item)

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        """Voiding an unpaid renewal forgives the period: a subscription in dunning is active
        again, with nothing more to pay for it."""
        if item.sub is not None and item.sub.state in DUNNING_STATUSES:
            dunning.recovered(uow, item.sub, item.at, waived=True)


_PAID: dict[Status, tuple[Action, str]] = {
    # A scheduled subscription that started paid: its first invoice (covered by credit here).
    Status.INCOMPLETE: (Action.FIRST_PAYMENT_SUCCEEDED, "subscription.activated"),
    Status.TRIALING: (Action.TRIAL_CONVERTED, "subscription.activated"),
    Status.ACTIVE: (Action.RENEWED, "subscription.renewed"),
}


def renewed(uow: UnitOfWork, sub: Sub, at: datetime) -> None:
    """The period's invoice is paid: ``subscription.renewed`` (``activated`` after a trial)."""
    found = _PAID.get(sub.state)
    if found is None:
        return
    action, event = found
    sub.grace_ends_at = sub.incomplete_expires_at = None
    uow.record(sub.apply(action, at=at, actor=uow.actor, reason="invoice paid"))
    uow.emit(sub.event(event, at=at))


@dataclass
class Renewals:
    """Invoices for the next period of each subscription the batch renews."""

    now: datetime
    discounts: dict[str, ActiveDiscount]
    drafts: list[tuple[InvoiceRecord, Sub]] = field(default_factory=list)
    switched: dict[str, str] = field(default_factory=dict)  # subscription -> previous plan
    addons: dict[str, list[Item]] = field(default_factory=dict)  # active add-ons to bill
    offers: dict[str, ActiveDiscount] = field(default_factory=dict)  # retention discounts

    def renew(self, uow: UnitOfWork, sub: Sub) -> bool:
        """Move ``sub`` to its next period with an invoice for it; ``False`` when it cannot be
        billed any more (its plan left the catalog), for the caller to end it."""
        catalog = uow.runtime.catalog
        self._apply_pending_plan(uow, sub)
        price_from = self._apply_pending_price(uow, sub)
        plan = catalog.plans.get(sub.plan_id)
        if plan is None or sub.market not in catalog.markets:
            return False
        start = sub.current_period_end
        index = period_index(sub.billing_anchor, plan.interval, plan.interval_count, start)
        end = boundary(sub.billing_anchor, plan.interval, plan.interval_count, index + 1)
        reason = (
            BillingReason.TRIAL_END
            if sub.state is Status.TRIALING
            else BillingReason.SUBSCRIPTION_CYCLE
        )
        discount = self.discounts.get(sub.id)
        lines, used = period_lines(catalog, sub, start, end, discount, self.addons.get(sub.id, ()))
        if used and discount is not None:
            uow.use_discount(discount)
        offer = self.offers.get(sub.id)
        if offer is not None and offer_line(lines, offer, start, end):
            uow.use_discount(offer)
        invoice = build_invoice(
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            currency=sub.currency,
            billing_reason=reason,
            period_start=start,
            period_end=end,
            lines=lines,
            tax=uow.runtime.tax_rule(sub.market, sub.region),
            created_at=self.now,
        )
        self.drafts.append((invoice, sub))
        sub.current_period_start, sub.current_period_end = start, end
        sub.trial_notice_sent = True
        sub.reschedule(self.now)
        if price_from is not None:
            uow.record(sub.note("price_change_applied", at=self.now, actor=uow.actor, reason=None))
            uow.emit(sub.event("subscription.price_change_applied", at=self.now, **price_from))
        if sub.id in self.switched:  # after the period moved, so the event shows the new one
            uow.emit(
                sub.event(
                    "subscription.plan_changed",
                    at=self.now,
                    previous_plan=self.switched[sub.id],
                    change_type="downgrade",
                    effective="period_end",
                )
            )
        return True

    def _apply_pending_price(self, uow: UnitOfWork, sub: Sub) -> dict[str, Any] | None:
        """A price change scheduled for this renewal (or an earlier one) bills from now on;
        one for another plan than the subscription's (it changed plan since) is dropped."""
        change = sub.pending_price
        if change is None or change.amount is None:
            return None
        if change.effective_at > sub.current_period_end:
            return None
        del sub.pending[ChangeKind.PRICE]
        if change.plan_id != sub.plan_id:
            uow.close_change(change.id, status="canceled", at=self.now)
            return None
        previous = {"amount": sub.price_amount, "currency": sub.currency}
        sub.price_amount = change.amount
        sub.price_version = change.price_version
        uow.close_change(change.id, status="applied", at=self.now)
        return {"previous_price": previous}

    def _apply_pending_plan(self, uow: UnitOfWork, sub: Sub) -> None:
        """A downgrade scheduled for the period end takes effect as the new period starts."""
        change = sub.pending_plan
        if change is None or change.effective_at > self.now or change.plan_id is None:
            return
        catalog = uow.runtime.catalog
        plan = catalog.plans.get(change.plan_id)
        market = catalog.markets.get(sub.market)
        del sub.pending[ChangeKind.PLAN]
        if plan is None or market is None or market.code not in plan.prices:
            uow.close_change(change.id, status="canceled", at=self.now)  # no longer sold here
            return
        self.switched[sub.id] = sub.plan_id
        sub.plan_id, sub.product_id = plan.id, plan.product
        sub.price_amount = plan.prices[market.code]
        uow.close_change(change.id, status="applied", at=self.now)
