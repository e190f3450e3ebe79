"""Changing a subscription's plan: preview, apply, and cancel a pending change.

The preview and the change compute the quote with the same function at the same business time,
so what a change charges equals its preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access import audit
from tenure.billing import balance
from tenure.billing.invoicing import build_invoice
from tenure.billing.plan_change import ChangeQuote, PlanTerms, Timing, quote
from tenure.billing.proration import ProrationMode
from tenure.billing.records import (
    BillingReason,
    InvoiceRecord,
    InvoiceStatus,
    amount_due,
    void,
)
from tenure.catalog.model import Plan
from tenure.flows.collect import Outcome, collect
from tenure.flows.guards import ensure_no_billing_issue
from tenure.flows.households import guard_plan_change
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.opening import open_invoice
from tenure.flows.outcomes import Settlement, payment_failed_event
from tenure.flows.plan_switch import apply_plan, change_type_of, kept_anchor
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound, PaymentRequired
from tenure.subscriptions import changes
from tenure.subscriptions import items as item_rows
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.state import Status


@dataclass(frozen=True, slots=True)
class Prepared:
    sub: subs.Sub
    plan: Plan
    quote: ChangeQuote
    draft: InvoiceRecord | None
    now: datetime


@dataclass(frozen=True, slots=True)
class ChangeResult:
    subscription_id: str
    invoice_id: str | None
    quote: ChangeQuote


def _timing(value: str | None) -> Timing | None:
    if value is None:
        return None
    try:
        return Timing(value)
    except ValueError:
        raise InvalidRequest(
            f'at must be "now" or "period_end", not {value!r}', code="invalid_change_timing"
        ) from None


def _check_changeable(sub: subs.Sub, plan_id: str) -> None:
    ensure_no_billing_issue(sub)
    if sub.state not in (Status.ACTIVE, Status.TRIALING):
        raise Conflict(
            f"{sub.id} is {sub.status}; only active or trialing subscriptions change plan",
            code="subscription_not_active",
        )
    if sub.plan_id == plan_id:
        raise Conflict(f"{sub.id} is already on {plan_id}", code="plan_unchanged")
    if not sub.renews:
        raise Conflict(
            f"{sub.id} is prepaid; buy more time with POST /v1/subscriptions/{sub.id}/extend "
            "or start a new subscription when it ends",
            code="subscription_prepaid",
        )


async def _prepare(
    runtime: Runtime, session: AsyncSession, sub: subs.Sub, plan_id: str, at: str | None
) -> Prepared:
    _check_changeable(sub, plan_id)
    catalog = runtime.catalog
    plan = catalog.plan(plan_id)
    product = catalog.product_of(plan)
    if product.free:
        raise InvalidRequest(
            "to move a customer to Free, cancel the subscription", code="plan_not_purchasable"
        )
    market = catalog.market(sub.market)
    new_price = plan.price_in(market).amount
    old_plan = catalog.plans.get(sub.plan_id)
    if old_plan is None:
        raise Conflict(f"{sub.plan_id} is no longer in the catalog", code="plan_unavailable")
    await _refuse_stranded_addons(runtime, session, sub, plan)
    now = await runtime.now_for(session, sub.test_clock_id)
    timing = _timing(at) or _policy_timing(runtime, sub.plan_id, plan_id)
    if sub.state is Status.TRIALING:
        timing = Timing.NOW  # nothing was paid yet: the trial just continues on the new plan
    terms = quote(
        old=PlanTerms(
            old_plan.id,
            catalog.product_of(old_plan).name,
            old_plan.interval,
            old_plan.interval_count,
            sub.price_amount,
        ),
        new=PlanTerms(plan.id, product.name, plan.interval, plan.interval_count, new_price),
        period=(sub.current_period_start, sub.current_period_end),
        at=now,
        timing=timing,
        mode=ProrationMode(catalog.product_of(old_plan).proration),
        keep_anchor=kept_anchor(catalog, old_plan.id, plan.id, sub),
    )
    if sub.state is Status.TRIALING:
        # Nothing billed and the trial period stays: only the plan changes.
        terms = ChangeQuote(terms.type, Timing.NOW, now, [], None)
    draft = None
    if terms.lines and sub.state is not Status.TRIALING:
        end = terms.new_period[1] if terms.new_period else sub.current_period_end
        draft = build_invoice(
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            currency=sub.currency,
            billing_reason=BillingReason.SUBSCRIPTION_UPDATE,
            period_start=now,
            period_end=end,
            lines=terms.lines,
            tax=runtime.tax_rule(sub.market, sub.region),
            created_at=now,
        )
    return Prepared(sub, plan, terms, draft, now)


async def _refuse_stranded_addons(
    runtime: Runtime, session: AsyncSession, sub: subs.Sub, plan: Plan
) -> None:
    """An add-on goes only with its base products and billing interval: remove it first."""
    attached = (await item_rows.attached(session, [sub.id])).get(sub.id, [])
    catalog = runtime.catalog
    for item in attached:
        addon_plan = catalog.plans.get(item.plan_id)
        addon = catalog.products.get(item.product_id)
        fits = (
            addon is not None
            and addon_plan is not None
            and plan.product in addon.addon_for
            and (addon_plan.interval, addon_plan.interval_count)
            == (plan.interval, plan.interval_count)
        )
        if not fits:
            raise Conflict(
                f"{item.plan_id} ({item.id}) cannot go with {plan.id}; remove it first with "
                f"DELETE /v1/subscriptions/{sub.id}/items/{item.id}",
                code="addon_not_available",
                item=item.id,
            )


def _policy_timing(runtime: Runtime, from_plan: str, to_plan: str) -> Timing | None:
    value = runtime.catalog.change_policies.get((from_plan, to_plan))
    return Timing(value) if value else None


async def _load(session: AsyncSession, subscription_id: str, *, for_update: bool) -> subs.Sub:
    sub = await subs.load_one(session, subscription_id, for_update=for_update)
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
    require_web(sub, "change the plan of")
    return sub


async def preview(
    runtime: Runtime,
    *,
    subscription_id: str,
    plan_id: str,
    at: str | None,
    remove_members: bool = False,
) -> tuple[Prepared, dict[str, int]]:
    """The quote and the money it would move, changing nothing."""
    async with runtime.db.read() as session:
        sub = await _load(session, subscription_id, for_update=False)
        prepared = await _prepare(runtime, session, sub, plan_id, at)
        await guard_plan_change(
            session, runtime.catalog, sub.id, prepared.plan, remove_members=remove_members
        )
        held = (await balance.balances(session, [sub.customer_id])).get(sub.customer_id, 0)
    return prepared, money_of(prepared.draft, held)


def money_of(draft: InvoiceRecord | None, held: int) -> dict[str, int]:
    """Credit applied, credit banked and amount due, by the same rules the change applies
    (``balance.split`` and ``records.amount_due``)."""
    if draft is None:
        return {
            "subtotal": 0,
            "tax": 0,
            "total": 0,
            "credit_applied": 0,
            "credited_to_balance": 0,
            "amount_due": 0,
        }
    applied, banked = balance.split(draft.total, held)
    quoted = replace(draft, credit_applied=applied, credited_to_balance=banked)
    return {
        "subtotal": draft.subtotal,
        "tax": draft.tax,
        "total": draft.total,
        "credit_applied": applied,
        "credited_to_balance": banked,
        "amount_due": amount_due(quoted),
    }


async def change(
    runtime: Runtime,
    *,
    subscription_id: str,
    plan_id: str,
    at: str | None,
    actor: str,
    remove_members: bool = False,
) -> ChangeResult:
    """Apply a change now (charging the difference first) or schedule it for the period end.

    Effects: ``subscription.plan_changed`` when applied; ``subscription.plan_change_scheduled``
    when it waits for the period end. A declined charge leaves the subscription unchanged and
    raises 402 with the decline code. A household with more members than the new plan allows
    refuses the change (``household_has_members``) unless ``remove_members``.
    """
    async with runtime.db.transaction() as session:
        sub = await _load(session, subscription_id, for_update=True)
        prepared = await _prepare(runtime, session, sub, plan_id, at)
        await guard_plan_change(
            session, runtime.catalog, sub.id, prepared.plan, remove_members=remove_members
        )
        before = {"plan": sub.plan_id, "status": sub.status}
        attempt_id = await _start(runtime, session, prepared, actor)
        await audit.write(
            session,
            actor=actor,
            action="change_plan",
            target_type="subscription",
            target_id=subscription_id,
            customer_id=sub.customer_id,
            before=before,
            after={
                "plan": prepared.plan.id,
                "at": at or "default",
                "invoice": prepared.draft.id if prepared.draft else None,
            },
        )
    invoice_id = prepared.draft.id if prepared.draft else None
    if attempt_id is not None:
        outcomes = await collect(runtime, [attempt_id], actor=actor)
        _raise_if_declined(outcomes, invoice_id)
    return ChangeResult(subscription_id, invoice_id, prepared.quote)


def _raise_if_declined(outcomes: list[Outcome], invoice_id: str | None) -> None:
    result = outcomes[0].result if outcomes else None
    if result is None:
        raise Conflict(
            "the payment provider did not answer; the change applies once the charge is confirmed",
            code="payment_pending",
            invoice=invoice_id,
        )
    if result.decline_code:
        raise PaymentRequired(
            f"{(result.message or 'The payment was declined.').rstrip('.')}; the plan was not "
            "changed",
            code=result.decline_code,
            invoice=invoice_id,
            retryable=result.retryable,
        )


async def _start(
    runtime: Runtime, session: AsyncSession, prepared: Prepared, actor: str
) -> str | None:
    sub, terms, now = prepared.sub, prepared.quote, prepared.now
    uow = UnitOfWork(runtime, session, actor)
    uow.track(sub)
    if terms.timing is Timing.PERIOD_END:
        await changes.add(
            session,
            sub.pending,
            subscription_id=sub.id,
            kind=ChangeKind.PLAN,
            effective_at=terms.effective_at,
            at=now,
            plan_id=prepared.plan.id,
        )
        uow.emit(
            sub.event("subscription.plan_change_scheduled", at=now, change_type=terms.type.value)
        )
        await uow.flush()
        return None
    invoice = prepared.draft
    if invoice is not None:
        await balance.settle(session, [invoice], at=now)
        attempt = open_invoice(uow, invoice, sub, payment_method=sub.payment_method, at=now)
        if attempt is not None:
            # Applied when the payment succeeds (PlanChangePayment), dropped when it fails.
            await changes.add(
                session,
                sub.pending,
                subscription_id=sub.id,
                kind=ChangeKind.PLAN_NOW,
                effective_at=now,
                at=now,
                plan_id=prepared.plan.id,
            )
            await uow.flush()
            return attempt.id
    apply_plan(
        uow,
        sub,
        prepared.plan.id,
        effective_at=now,
        at=now,
        change_type=terms.type.value,
    )
    await changes.close(session, sub.pending, [ChangeKind.PLAN], status="canceled", at=now)
    await uow.flush()
    return None


class PlanChangePayment:
    """Outcomes of ``subscription_update`` invoices: a plan change charged now."""

    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        return None

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        """The change applies (and replaces a downgrade scheduled for the period end)."""
        sub = item.sub
        if sub is None:
            return
        change = sub.pending.pop(ChangeKind.PLAN_NOW, None)
        catalog = uow.runtime.catalog
        if change is None or change.plan_id is None or change.plan_id not in catalog.plans:
            return
        uow.close_change(change.id, status="applied", at=item.at)
        dropped = sub.pending.pop(ChangeKind.PLAN, None)
        if dropped is not None:
            uow.close_change(dropped.id, status="canceled", at=item.at)
        apply_plan(
            uow,
            sub,
            change.plan_id,
            effective_at=change.effective_at,
            at=item.at,
            change_type=change_type_of(catalog, sub, change.plan_id),
        )

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        """A declined change charge: the invoice is voided (its credit returned), the change
        dropped, nothing else."""
        uow.emit(payment_failed_event(item))
        if item.invoice.status is InvoiceStatus.OPEN:
            credit = void(item.invoice, at=item.at)
            uow.give_back(item.invoice, credit, reason="invoice_voided", at=item.at)
            uow.invoice_changed(item.invoice)
        self.voided(uow, item)

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        if item.sub is not None and (change := item.sub.pending.pop(ChangeKind.PLAN_NOW, None)):
            uow.close_change(change.id, status="canceled", at=item.at)


async def cancel_pending(runtime: Runtime, *, subscription_id: str, actor: str) -> None:
    """Drop a plan change scheduled for the period end."""
    async with runtime.db.transaction() as session:
        sub = await _load(session, subscription_id, for_update=True)
        change = sub.pending_plan
        if change is None:
            raise NotFound(
                f"{subscription_id} has no pending plan change", code="no_pending_change"
            )
        now = await runtime.now_for(session, sub.test_clock_id)
        await changes.close(session, sub.pending, [ChangeKind.PLAN], status="canceled", at=now)
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        uow.emit(
            sub.event("subscription.plan_change_canceled", at=now, canceled_plan=change.plan_id)
        )
        await uow.flush()
