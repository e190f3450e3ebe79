"""Subscribing a customer to a plan, with or without a trial."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access import idempotency
from tenure.access.idempotency import Claim
from tenure.billing import balance, promotions
from tenure.catalog.model import Plan, Product
from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.db.base import table_of
from tenure.flows import winback
from tenure.flows.collect import Outcome
from tenure.flows.first_payment import Created, Respond, activate, charge_first
from tenure.flows.opening import open_invoice
from tenure.flows.payment_methods import method_for_subscribe
from tenure.flows.runtime import Runtime
from tenure.flows.shaping import first_invoice, shape
from tenure.flows.unit import UnitOfWork
from tenure.households import service as households
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.payments.ports import StoredCard
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import IntroRedemption, Subscription, TrialRedemption
from tenure.subscriptions.record import HistoryEntry
from tenure.subscriptions.state import LIVE_STATUSES, Status

_subs = table_of(Subscription)
_LIVE: Final = sorted(status.value for status in LIVE_STATUSES)


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
    # The response stored with the route's Idempotency-Key (see Checkout), when it was.
    answer: bytes | None = None


@dataclass(frozen=True, slots=True)
class Checkout:
    """What ``POST /v1/subscriptions`` adds to a subscribe.

    ``payment_method`` is then what the caller sent: a provider token (stored as a method and
    made the default, in the first transaction), a stored method's id, or ``None`` for the
    default (or no method at all when ``optional``: a trial that needs none). ``stored`` is
    what a real provider answered when it stored the token (before any transaction). The
    gate's ``claim`` is inserted with the first transaction and completed, with the answer
    ``respond`` renders, by the last one (``tenure.access.idempotency``).
    """

    optional: bool = False
    stored: StoredCard | None = None
    claim: Claim | None = None
    respond: Respond | None = None


async def subscribe(
    runtime: Runtime,
    *,
    customer_id: str,
    plan_id: str,
    payment_method: str | None,
    trial: bool,
    actor: str,
    offers: Offers | None = None,
    metadata: dict[str, str] | None = None,
    trial_end: datetime | None = None,
    billing_anchor: datetime | int | None = None,
    start_at: datetime | None = None,
    checkout: Checkout | None = None,
) -> SubscribeResult:
    """Create the subscription; without a trial, invoice and charge the first period.

    Effects: ``subscription.created`` (and ``invoice.created``) in the first transaction; the
    charge after commit; then ``invoice.paid`` + ``subscription.activated`` or
    ``invoice.payment_failed`` (the subscription stays ``incomplete`` for 23 hours).

    ``payment_method`` may be ``None`` only for a trial whose product and market need none
    (``[lifecycle] trial_requires_payment_method = false``); ``trial_end`` (which implies a
    trial) replaces the plan's ``trial_days``. ``billing_anchor`` (a timestamp or a day of the
    month; else the customer's ``billing_day``) anchors the periods of a subscription without a
    trial; its first period is billed by the catalog's ``first_period`` rule. ``start_at`` in
    the future creates it ``scheduled``: nothing is billed until the worker starts it then
    (:mod:`tenure.flows.starts`).

    Two transactions around one provider call: the subscription, its invoice and the pending
    attempt (with the payment method and the Idempotency-Key of a ``checkout``); then the
    outcome with the activation (:mod:`tenure.flows.first_payment`).
    """
    plan = purchasable_plan(runtime, plan_id)
    product = runtime.catalog.product_of(plan)
    trial = trial or trial_end is not None
    if (
        checkout is None
        and payment_method is not None
        and not runtime.provider.accepts(payment_method)
    ):
        raise InvalidRequest(
            f"unknown payment method {payment_method!r}; {runtime.provider.accepted_hint()}",
            code="unknown_payment_method",
        )
    claim = checkout.claim if checkout else None
    try:
        async with runtime.db.transaction() as session:
            if claim is not None:
                await idempotency.claim_in(session, claim)
            created = await _create(
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
                trial_end=trial_end,
                billing_anchor=billing_anchor,
                start_at=start_at,
                checkout=checkout,
            )
            answer = await _answer_now(runtime, session, created, checkout)
    except IntegrityError as error:
        raise _conflict_from(error, customer_id) from None
    if claim is not None:
        claim.held = True
        claim.completed = answer is not None
    invoice_id = created.invoice.id if created.invoice else None
    if created.attempt is None:
        return SubscribeResult(created.sub.id, invoice_id, None, answer)
    respond = checkout.respond if checkout else None
    charged = await charge_first(runtime, created, actor=actor, claim=claim, respond=respond)
    return SubscribeResult(created.sub.id, invoice_id, charged.outcome, charged.answer)


async def _answer_now(
    runtime: Runtime, session: AsyncSession, created: Created, checkout: Checkout | None
) -> bytes | None:
    """Nothing to charge (a trial, a scheduled start, credit covered it): the answer is stored
    with the claimed key in this same transaction."""
    if created.attempt is not None or checkout is None or checkout.claim is None:
        return None
    if checkout.respond is None:
        return None
    sub = created.sub
    household = None
    if runtime.catalog.products[sub.product_id].accounts > 1:
        household = await households.active_by_subscription(session, sub.id)
    invoice_id = created.invoice.id if created.invoice else None
    answer = checkout.respond(sub, household, invoice_id, None)
    await idempotency.complete_in(
        session,
        checkout.claim,
        status_code=201,
        content_type="application/json",
        body=answer,
        at=datetime.now(UTC),  # wall time, as the gate records it (not a test clock's)
    )
    return answer


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
    plan = catalog.plan(plan_id)
    addon = catalog.product_of(plan)
    if addon.is_addon:
        raise InvalidRequest(
            f"{plan_id!r} is an add-on of {', '.join(addon.addon_for)}; attach it to a "
            "subscription with POST /v1/subscriptions/{id}/items",
            code="plan_not_purchasable",
        )
    return plan


async def card_optional(runtime: Runtime, *, customer_id: str, plan_id: str, trial: bool) -> bool:
    """Whether this subscribe may start without any payment method: a trial of a product
    whose catalog lifecycle, in the customer's market, does not require one."""
    if not trial:
        return False
    plan = purchasable_plan(runtime, plan_id)
    async with runtime.db.read() as session:
        customer = await customers.get(session, customer_id)
    policy = runtime.catalog.lifecycle_for(customer.market, plan.product)
    return not policy.trial_requires_payment_method


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
    payment_method: str | None,
    trial: bool,
    actor: str,
    offers: Offers,
    metadata: dict[str, str],
    trial_end: datetime | None,
    billing_anchor: datetime | int | None = None,
    start_at: datetime | None = None,
    checkout: Checkout | None = None,
) -> Created:
    # Locking the customer serializes two subscribes for the same customer; the partial
    # unique index would catch the loser anyway, this just gives it a clean answer.
    customer = await customers.locked(session, customer_id)
    market = runtime.catalog.market(customer.market)
    # Refuses a plan not sold in the customer's market, before anything is written.
    plan.price_in(market)
    now = await runtime.now_for(session, customer.test_clock_id)
    await _refuse_second_live(session, customer_id)
    if checkout is not None:
        payment_method = await method_for_subscribe(
            runtime,
            session,
            customer,
            payment_method,
            optional=checkout.optional,
            stored=checkout.stored,
            at=now,
        )
    if payment_method is None:
        _card_less_allowed(runtime, customer, plan, product, trial=trial)
    if trial:
        await _redeem_trial(session, customer, plan, product, explicit_end=trial_end is not None)
    sub, anchoring = shape(
        runtime,
        customer,
        plan,
        payment_method,
        now=now,
        trial=trial,
        trial_end=trial_end,
        billing_anchor=billing_anchor,
        start_at=start_at,
    )
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
    uow.record(HistoryEntry(sub.id, now, None, sub.status, "created", _why(trial, start_at), actor))
    uow.emit(sub.event("subscription.created", at=now))
    later = sub.state is Status.SCHEDULED
    invoice, comeback_used = (
        (None, False)
        if trial or later
        else first_invoice(runtime, sub, discount, now, anchoring, comeback)
    )
    attempt = None
    if invoice is not None:
        await balance.settle(session, [invoice], at=now)
        # The customer is present: the provider may ask for 3-D Secure (next_action).
        attempt = open_invoice(
            uow, invoice, sub, payment_method=payment_method, at=now, on_session=True
        )
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
    return Created(sub, invoice, attempt)


async def _refuse_second_live(session: AsyncSession, customer_id: str) -> None:
    live = await session.scalar(
        select(_subs.c.id).where(
            _subs.c.customer_id == customer_id,
            _subs.c.channel == "web",  # a store subscription may run beside it
            _subs.c.status.in_(_LIVE),
        )
    )
    if live is not None:
        raise SubscriptionExists(
            f"customer {customer_id} already has a live subscription {live}; "
            "change or cancel it instead",
            subscription=live,
        )


def _why(trial: bool, start_at: datetime | None) -> str | None:
    if start_at is not None:
        return "scheduled, trial" if trial else "scheduled"
    return "trial" if trial else None


def _card_less_allowed(
    runtime: Runtime, customer: Customer, plan: Plan, product: Product, *, trial: bool
) -> None:
    """Only a trial whose product and market need no payment method starts without one."""
    policy = runtime.catalog.lifecycle_for(customer.market, product.id)
    if not trial or policy.trial_requires_payment_method:
        what = "a trial of" if trial else "a paid subscription to"
        raise InvalidRequest(
            f"{what} {plan.id} in {customer.market} needs a payment method; pass "
            f"payment_method or attach a default one to customer {customer.id}",
            code="payment_method_required",
        )


async def _redeem_trial(
    session: AsyncSession,
    customer: Customer,
    plan: Plan,
    product: Product,
    *,
    explicit_end: bool = False,
) -> None:
    if plan.trial_days == 0 and (not explicit_end or not plan.renews):
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
