"""Add-ons: attach a product such as Audiobooks+ to a running subscription, or remove it.

Adding charges the add-on's price for the unused part of the current period by the same
whole-day rule as plan changes (``billing_reason: subscription_item``); the item is ``pending``
until that charge succeeds, then ``active``. Declined: the invoice is voided, the item ``failed``
and the answer 402, nothing else changes. From the next renewal the add-on is its own line on
the subscription's invoice. Removing it credits the unused part of its price to the balance (a
``subscription_item_credit`` credit note) and ends it now. When the subscription ends, its
add-ons end with it. Their features are granted on top of the subscription's while it is
entitled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance
from tenure.billing.invoicing import LineDraft, build_invoice
from tenure.billing.proration import ProrationMode, prorate, unused_fraction
from tenure.billing.records import BillingReason, InvoiceRecord, InvoiceStatus, void
from tenure.catalog.model import Plan
from tenure.flows.change_plan import _raise_if_declined
from tenure.flows.collect import collect
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.opening import open_invoice
from tenure.flows.outcomes import Settlement, payment_failed_event
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound
from tenure.kernel.ids import new_id
from tenure.subscriptions import items as addons
from tenure.subscriptions import record as subs
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.items import Item, ItemAction, ItemStatus
from tenure.subscriptions.state import Status


@dataclass(frozen=True, slots=True)
class ItemResult:
    item_id: str
    invoice_id: str | None


class ItemNotFound(NotFound):
    code = "subscription_item_not_found"


def _addon_plan(runtime: Runtime, sub: subs.Sub, plan_id: str) -> Plan:
    catalog = runtime.catalog
    plan = catalog.plan(plan_id)
    product = catalog.product_of(plan)
    base = catalog.plans.get(sub.plan_id)
    if not product.is_addon or sub.product_id not in product.addon_for:
        raise InvalidRequest(
            f"{plan_id} is not an add-on for {sub.product_id}", code="plan_not_an_addon"
        )
    if sub.market not in plan.prices:
        raise InvalidRequest(
            f"{plan_id} is not sold in {sub.market}", code="plan_unavailable_in_market"
        )
    if base is None or (base.interval, base.interval_count) != (plan.interval, plan.interval_count):
        raise InvalidRequest(
            f"{plan_id} is billed every {plan.interval_count} {plan.interval}; the subscription "
            "is not, so it cannot be billed on the same invoices",
            code="addon_interval_mismatch",
        )
    return plan


def _share(runtime: Runtime, sub: subs.Sub, price: int, now: datetime) -> int:
    product = runtime.catalog.products.get(sub.product_id)
    mode = ProrationMode(product.proration if product else "days")
    fraction = unused_fraction(sub.current_period_start, sub.current_period_end, now, mode)
    return prorate(price, fraction)


def _invoice(
    runtime: Runtime, sub: subs.Sub, reason: BillingReason, line: LineDraft, now: datetime
) -> InvoiceRecord:
    return build_invoice(
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=sub.currency,
        billing_reason=reason,
        period_start=now,
        period_end=sub.current_period_end,
        lines=[line],
        tax=runtime.tax_rule(sub.market, sub.region),
        created_at=now,
        metadata={"subscription_item": line.plan_id or ""},
    )


async def _locked(session: AsyncSession, subscription_id: str) -> subs.Sub:
    sub = await subs.load_one(session, subscription_id, for_update=True)
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
    return sub


async def _refuse_readd(session: AsyncSession, sub: subs.Sub, plan: Plan) -> None:
    """An add-on removed in this period had its unused part credited at removal, and a cancel
    with credit gives back the period's unused add-on time by plan: attached again in the same
    period, that time would be given back twice. It can come back from the next period."""
    gone = (await addons.attached(session, [sub.id], statuses=[ItemStatus.REMOVED.value])).get(
        sub.id, []
    )
    if any(
        item.product_id == plan.product
        and item.removed_at is not None
        and item.removed_at >= sub.current_period_start
        for item in gone
    ):
        raise Conflict(
            f"{plan.product} was removed from {sub.id} in this period; it can be added again "
            f"from {rfc3339(sub.current_period_end)}",
            code="addon_removed_this_period",
        )


async def add_item(
    runtime: Runtime, *, subscription_id: str, plan_id: str, actor: str
) -> ItemResult:
    """Attach an add-on now. Refused, changing nothing: 409 ``subscription_not_active``,
    ``addon_already_attached``, ``addon_removed_this_period``; 422 ``plan_not_an_addon``,
    ``addon_interval_mismatch``, ``plan_unavailable_in_market``; 402 when the charge is
    declined."""
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "add items to")
        if sub.state is not Status.ACTIVE or sub.cancel_at_period_end or not sub.renews:
            raise Conflict(
                f"{sub.id} is {sub.status}; add-ons attach to an active, renewing subscription "
                "that is not set to cancel",
                code="subscription_not_active",
            )
        plan = _addon_plan(runtime, sub, plan_id)
        existing = (await addons.attached(session, [sub.id])).get(sub.id, [])
        if any(item.product_id == plan.product for item in existing):
            raise Conflict(f"{sub.id} already has {plan.product}", code="addon_already_attached")
        await _refuse_readd(session, sub, plan)
        now = await runtime.now_for(session, sub.test_clock_id)
        price = plan.prices[sub.market]
        item = Item(
            id=new_id("si"),
            subscription_id=sub.id,
            plan_id=plan.id,
            product_id=plan.product,
            price_amount=price,
            currency=sub.currency,
            status=ItemStatus.PENDING,
            added_at=now,
        )
        await addons.insert_item(session, item)
        name = runtime.catalog.product_of(plan).name
        line = LineDraft(
            f"{name} ({plan.id}) from {now.date().isoformat()}",
            plan.id,
            now,
            sub.current_period_end,
            _share(runtime, sub, price, now),
        )
        invoice = _invoice(runtime, sub, BillingReason.SUBSCRIPTION_ITEM, line, now)
        await balance.settle(session, [invoice], at=now)
        uow = UnitOfWork(runtime, session, actor)
        attempt = open_invoice(uow, invoice, sub, payment_method=sub.payment_method, at=now)
        if attempt is None:  # credit covered it
            _activate(uow, sub, item, now)
        await uow.flush()
    if attempt is not None:
        outcomes = await collect(runtime, [attempt.id], actor=actor)
        _raise_if_declined(outcomes, invoice.id)
    return ItemResult(item.id, invoice.id)


def _activate(uow: UnitOfWork, sub: subs.Sub, item: Item, at: datetime) -> None:
    item.move(ItemAction.PAID, at=at)
    uow.changed_items.append(item)
    uow.track(sub)
    sub.updated_at = at  # entitlements follow: the add-on's features are granted now
    uow.emit(sub.event("subscription.item_added", at=at, item=item_data(item)))


def item_data(item: Item) -> dict[str, object]:
    return {
        "id": item.id,
        "plan": item.plan_id,
        "product": item.product_id,
        "price": {"amount": item.price_amount, "currency": item.currency},
        "status": item.status.value,
    }


async def remove_item(
    runtime: Runtime, *, subscription_id: str, item_id: str, actor: str
) -> ItemResult:
    """Detach an active add-on now; the unused part of its price goes to the balance."""
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "remove items from")
        attached = (await addons.attached(session, [sub.id], for_update=True)).get(sub.id, [])
        item = next((found for found in attached if found.id == item_id), None)
        if item is None:
            raise ItemNotFound(f"{sub.id} has no attached item {item_id!r}")
        if item.status is not ItemStatus.ACTIVE:
            raise Conflict(
                f"{item_id} is {item.status.value}; its charge is still being confirmed",
                code="payment_in_progress",
            )
        now = await runtime.now_for(session, sub.test_clock_id)
        item.move(ItemAction.REMOVE, at=now)
        uow = UnitOfWork(runtime, session, actor)
        uow.changed_items.append(item)
        uow.track(sub)
        sub.updated_at = now
        credit_id = None
        share = _share(runtime, sub, item.price_amount, now) if sub.state is Status.ACTIVE else 0
        if share > 0:
            plan = runtime.catalog.plans.get(item.plan_id)
            name = runtime.catalog.product_of(plan).name if plan else item.product_id
            line = LineDraft(
                f"Unused time on {name} after {now.date().isoformat()}",
                item.plan_id,
                now,
                sub.current_period_end,
                -share,
            )
            credit = _invoice(runtime, sub, BillingReason.SUBSCRIPTION_ITEM_CREDIT, line, now)
            await balance.settle(session, [credit], at=now)
            open_invoice(uow, credit, sub, payment_method=None, at=now)
            credit_id = credit.id
        uow.emit(sub.event("subscription.item_removed", at=now, item=item_data(item)))
        await uow.flush()
    return ItemResult(item.id, credit_id)


class AddonPayment:
    """Outcomes of ``subscription_item`` invoices: the add-on's first, prorated charge."""

    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        ids = sorted({s.invoice.subscription_id for s in items if s.invoice.subscription_id})
        found = await addons.attached(uow.session, ids, for_update=True)
        for settlement in items:
            plan = settlement.invoice.metadata.get("subscription_item")
            pending = [
                item
                for item in found.get(settlement.invoice.subscription_id or "", [])
                if item.status is ItemStatus.PENDING and item.plan_id == plan
            ]
            if pending:
                uow.addon_items[settlement.invoice.id] = pending[0]

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        found = uow.addon_items.pop(item.invoice.id, None)
        if found is not None and item.sub is not None:
            _activate(uow, item.sub, found, item.at)

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        """Declined: the invoice is voided (its credit returned) and the add-on fails."""
        uow.emit(payment_failed_event(item))
        if item.invoice.status is InvoiceStatus.OPEN:
            credit = void(item.invoice, at=item.at)
            uow.give_back(item.invoice, credit, reason="invoice_voided", at=item.at)
            uow.invoice_changed(item.invoice)
        self.voided(uow, item)

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        found = uow.addon_items.pop(item.invoice.id, None)
        if found is not None:
            found.move(ItemAction.DECLINED, at=item.at)
            uow.changed_items.append(found)
