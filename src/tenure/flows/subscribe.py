"""Subscribing a customer to a plan, with or without a trial."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance, promotions
from tenure.billing.invoicing import build_invoice
from tenure.billing.promotions import ActiveDiscount
from tenure.billing.records import BillingReason, InvoiceRecord
from tenure.catalog.model import Plan, Product
from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.db.base import table_of
from tenure.flows import winback
from tenure.flows.collect import Outcome, collect
from tenure.flows.lines import offer_line, period_lines
from tenure.flows.opening import open_invoice
from tenure.flows.outcomes import Settlement, payment_failed_event
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.calendar import add_interval
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.kernel.ids import new_id
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import IntroRedemption, Subscription, TrialRedemption
from tenure.subscriptions.record import HistoryEntry
from tenure.subscriptions.schedule import INCOMPLETE_WINDOW
from tenure.subscriptions.state import LIVE_STATUSES, Action, Status


class SubscriptionExists(Conflict):
    code = "subscription_exists"


class TrialAlreadyUsed(Conflict):
    code = "trial_already_used"


class IntroAlreadyUsed(Conflict):
    code = "intro_offer_already_used"


class PromoAlreadyUsed(Conflict):
    code = "promo_code_already_used"


@dataclass(frozen=True, slots=True)
class Offers:
    promo_code: str | None = None
    intro: bool = False  # take the plan's intro offer (once per customer and product family)
    winback: str | None = None  # a win-back offer id (docs/retention.md#win-back)


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    subscription_id: str
    invoice_id: str | None
    payment: Outcome | None


async def subscribe(
    runtime: Runtime,
    *,
    customer_id: str,
    plan_id: str,
    payment_method: str,
    trial: bool,
    actor: str,
    offers: Offers | None = None,
    metadata: dict[str, str] | None = None,
) -> SubscribeResult:
    """Create the subscription; without a trial, invoice and charge the first period.

    Effects: ``subscription.created`` (and ``invoice.created``) in the first transaction; the
    charge after commit; then ``invoice.paid`` + ``subscription.activated`` or
    ``invoice.payment_failed`` (the subscription stays ``incomplete`` for 23 hours).
    """
    plan = purchasable_plan(runtime, plan_id)
    product = runtime.catalog.product_of(plan)
    if not runtime.provider.accepts(payment_method):
        raise InvalidRequest(
            f"unknown payment method {payment_method!r}; {runtime.provider.accepted_hint()}",
            code="unknown_payment_method",
        )
    try:
        async with runtime.db.transaction() as session:
            sub_id, invoice_id, attempt_id = await _create(
                runtime,
                session,
                customer_id=customer_id,
                plan=plan,
                product=product,
                payment_method=payment_method,
                trial=trial,
                actor=actor,
                offers=offers or Offers(),
                metadata=metadata or {},
            )
    except IntegrityError as error:
        raise _conflict_from(error, customer_id) from None
    outcomes = await collect(runtime, [attempt_id], actor=actor) if attempt_id else []
    return SubscribeResult(sub_id, invoice_id, outcomes[0] if outcomes else None)


def purchasable_plan(runtime: Runtime, plan_id: str) -> Plan:
    """The plan, if a customer can subscribe to it: never the free tier, never an unknown id."""
    catalog = runtime.catalog
    free = plan_id == catalog.free_product or (
        plan_id in catalog.plans and catalog.product_of(catalog.plans[plan_id]).free
    )
    if free:
        raise InvalidRequest(
            f"{plan_id!r} is the free tier; customers are on it whenever nothing else is live",
            code="plan_not_purchasable",
        )
    return catalog.plan(plan_id)


def _conflict_from(error: IntegrityError, customer_id: str) -> Conflict:
    text = str(error.orig).lower()
    if "trial_redemptions" in text:
        return TrialAlreadyUsed(f"customer {customer_id} has already used this trial")
    if "intro_redemptions" in text:
        return IntroAlreadyUsed(f"customer {customer_id} has already used this intro offer")
    if "promo_redemptions" in text:
        return PromoAlreadyUsed(f"customer {customer_id} has already used this promo code")
    if "offer_windows" in text:
        return winback.WinbackNotEligible(
            f"customer {customer_id} has just taken this offer", reason="offer_already_used"
        )
    return SubscriptionExists(
        f"customer {customer_id} already has a live subscription; change or cancel it instead"
    )


async def _create(
    runtime: Runtime,
    session: AsyncSession,
    *,
    customer_id: str,
    plan: Plan,
    product: Product,
    payment_method: str,
    trial: bool,
    actor: str,
    offers: Offers,
    metadata: dict[str, str],
) -> tuple[str, str | None, str | None]:
    # Locking the customer serializes two subscribes for the same customer; the partial
    # unique index would catch the loser anyway, this just gives it a clean answer.
    customer = await customers.get(session, customer_id, for_update=True)
    market = runtime.catalog.market(customer.market)
    price = plan.price_in(market)
    now = await runtime.now_for(session, customer.test_clock_id)
    await _refuse_second_live(session, customer_id)
    if trial:
        await _redeem_trial(session, customer, plan, product)
    # The catalog price version in effect now (docs/retention.md#price-increases).
    amount, version = runtime.catalog.pricing.price_at(plan.id, plan.prices, market.code, now)
    sub = _new_sub(customer, plan, amount, price.currency, payment_method, trial, now)
    sub.price_version = version
    sub.metadata = dict(metadata)
    if offers.intro:
        await _redeem_intro(session, sub, plan, product, trial=trial, now=now)
    discount = None
    if offers.promo_code:
        discount = await promotions.redeem(
            session,
            offers.promo_code,
            customer_id=customer.id,
            subscription_id=sub.id,
            product=product.id,
            market=market.code,
            currency=market.currency,
            now=now,
        )
    comeback = None
    if offers.winback:
        comeback = await winback.redeem(
            runtime,
            session,
            customer_id=customer.id,
            market=market.code,
            subscription_id=sub.id,
            plan_id=plan.id,
            offer_id=offers.winback,
            now=now,
        )
    uow = UnitOfWork(runtime, session, actor)
    uow.add_sub(sub)
    uow.record(
        HistoryEntry(sub.id, now, None, sub.status, "created", "trial" if trial else None, actor)
    )
    uow.emit(sub.event("subscription.created", at=now))
    invoice, comeback_used = (
        (None, False) if trial else _first_invoice(runtime, sub, discount, now, comeback)
    )
    attempt = None
    if invoice is not None:
        await balance.settle(session, [invoice], at=now)
        attempt = open_invoice(uow, invoice, sub, payment_method=payment_method, at=now)
        if attempt is None:  # covered by the customer's credit balance
            activate(uow, sub, now)
        if discount is not None and len(invoice.lines) > 1:
            uow.use_discount(discount)
        if comeback is not None and comeback_used:
            uow.use_discount(comeback)
    if trial:
        await session.execute(
            insert(table_of(TrialRedemption)).values(
                customer_id=customer.id,
                family=product.family,
                subscription_id=sub.id,
                redeemed_at=now,
            )
        )
    await uow.flush()
    return sub.id, invoice.id if invoice else None, attempt.id if attempt else None


class FirstPayment:
    """Outcomes of ``subscription_create`` invoices: the first period, paid at subscribe."""

    async def prepare(self, uow: UnitOfWork, items: Sequence[Settlement]) -> None:
        return None

    def paid(self, uow: UnitOfWork, item: Settlement) -> None:
        if item.sub is not None and item.sub.state is Status.INCOMPLETE:
            activate(uow, item.sub, item.at)

    def failed(self, uow: UnitOfWork, item: Settlement) -> None:
        # The subscription stays incomplete (no dunning for a first payment) until its invoice
        # is paid or the 23-hour window closes.
        uow.emit(payment_failed_event(item))

    def voided(self, uow: UnitOfWork, item: Settlement) -> None:
        """Voiding the first invoice ends a subscription that never started."""
        sub = item.sub
        if sub is None or sub.state is not Status.INCOMPLETE:
            return
        sub.canceled_at = sub.ended_at = item.at
        sub.ended_reason = "invoice_voided"
        uow.drop_pending(sub, at=item.at)
        uow.record(sub.apply(Action.CANCEL_NOW, at=item.at, actor=uow.actor, reason="voided"))
        uow.emit(
            sub.event(
                "subscription.canceled",
                at=item.at,
                at_period_end=False,
                voided_invoices=[item.invoice.id],
                reason="invoice_voided",
            )
        )


def activate(uow: UnitOfWork, sub: subs.Sub, at: datetime) -> None:
    """The first period is paid: the subscription starts (``subscription.activated``)."""
    sub.incomplete_expires_at = None
    uow.record(sub.apply(Action.FIRST_PAYMENT_SUCCEEDED, at=at, actor=uow.actor, reason="paid"))
    uow.emit(sub.event("subscription.activated", at=at))


async def _refuse_second_live(session: AsyncSession, customer_id: str) -> None:
    live = await session.scalar(
        select(Subscription.id).where(
            Subscription.customer_id == customer_id,
            Subscription.channel == "web",  # a store subscription may run beside it
            Subscription.status.in_([status.value for status in LIVE_STATUSES]),
        )
    )
    if live is not None:
        raise SubscriptionExists(
            f"customer {customer_id} already has a live subscription {live}; "
            "change or cancel it instead",
            subscription=live,
        )


async def _redeem_trial(
    session: AsyncSession, customer: Customer, plan: Plan, product: Product
) -> None:
    if plan.trial_days == 0:
        raise InvalidRequest(
            f'plan {plan.id!r} has no trial; subscribe with "trial": false',
            code="trial_not_offered",
        )
    used = await session.get(TrialRedemption, (customer.id, product.family))
    if used is not None:
        raise TrialAlreadyUsed(
            f"customer {customer.id} already used the {product.family} trial "
            f'(on {used.subscription_id}); subscribe with "trial": false',
            subscription=used.subscription_id,
        )


def _new_sub(
    customer: Customer,
    plan: Plan,
    amount: int,
    currency: str,
    payment_method: str,
    trial: bool,
    now: datetime,
) -> subs.Sub:
    trial_end = now + timedelta(days=plan.trial_days) if trial else None
    # The billing anchor is the first paid moment: after a trial, the trial's end.
    anchor = trial_end or now
    period_end = trial_end or add_interval(now, plan.interval, plan.interval_count)
    sub = subs.Sub(
        id=new_id("sub"),
        customer_id=customer.id,
        test_clock_id=customer.test_clock_id,
        market=customer.market,
        region=customer.region,
        plan_id=plan.id,
        product_id=plan.product,
        price_amount=amount,
        intro_price=None,
        intro_periods_remaining=0,
        currency=currency,
        status=(Status.TRIALING if trial else Status.INCOMPLETE).value,
        billing_anchor=anchor,
        current_period_start=now,
        current_period_end=period_end,
        trial_start=now if trial else None,
        trial_end=trial_end,
        trial_notice_sent=False,
        canceled_at=None,
        ended_at=None,
        ended_reason=None,
        incomplete_expires_at=None if trial else now + INCOMPLETE_WINDOW,
        grace_ends_at=None,
        payment_method=payment_method,
        next_action_at=None,
        event_seq=0,
        created_at=now,
        updated_at=now,
    )
    sub.reschedule(now)
    return sub


def _first_invoice(
    runtime: Runtime,
    sub: subs.Sub,
    discount: ActiveDiscount | None,
    now: datetime,
    comeback: ActiveDiscount | None = None,
) -> tuple[InvoiceRecord, bool]:
    """The first period's invoice; the flag says whether the win-back discount was used."""
    lines, _ = period_lines(
        runtime.catalog, sub, sub.current_period_start, sub.current_period_end, discount
    )
    used = offer_line(lines, comeback, sub.current_period_start, sub.current_period_end)
    invoice = build_invoice(
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        currency=sub.currency,
        billing_reason=BillingReason.SUBSCRIPTION_CREATE,
        period_start=sub.current_period_start,
        period_end=sub.current_period_end,
        lines=lines,
        tax=runtime.tax_rule(sub.market, sub.region),
        created_at=now,
    )
    return invoice, used


async def _redeem_intro(
    session: AsyncSession,
    sub: subs.Sub,
    plan: Plan,
    product: Product,
    *,
    trial: bool,
    now: datetime,
) -> None:
    if plan.intro is None or sub.market not in plan.intro.prices:
        raise InvalidRequest(
            f"plan {plan.id!r} has no intro offer in {sub.market}", code="intro_offer_not_offered"
        )
    if trial:
        raise InvalidRequest(
            "a trial and an intro offer cannot be combined; choose one",
            code="offers_not_combinable",
        )
    used = await session.get(IntroRedemption, (sub.customer_id, product.family))
    if used is not None:
        raise IntroAlreadyUsed(
            f"customer {sub.customer_id} already used the {product.family} intro offer "
            f"(on {used.subscription_id})",
            subscription=used.subscription_id,
        )
    await session.execute(
        insert(table_of(IntroRedemption)).values(
            customer_id=sub.customer_id,
            family=product.family,
            subscription_id=sub.id,
            redeemed_at=now,
        )
    )
    sub.intro_price = plan.intro.prices[sub.market]
    sub.intro_periods_remaining = plan.intro.periods
