"""Payment methods: attach, list, detach, choose the default.

Subscriptions charge the customer's default method: making a method the default also makes it
the live subscription's method, and when that subscription is in dunning (``past_due`` or
``on_hold``) its open invoice is retried with the new method at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.billing.records import amount_due
from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.dunning import cases
from tenure.events.record import event_row
from tenure.events.record import record as record_events
from tenure.flows.collect import Outcome, collect
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.kernel.ids import is_valid_id
from tenure.payments import attempts, methods
from tenure.payments.methods import PaymentMethod
from tenure.payments.ports import StoredCard
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import DUNNING_STATUSES, LIVE_STATUSES


def view(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "object": "payment_method",
        "customer": method.customer_id,
        "type": "card",
        "card": {
            "brand": method.brand,
            "last4": method.last4,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
        },
        "default": method.is_default,
        "created": rfc3339(method.created_at),
    }


def _event(type: str, method: PaymentMethod, at: Any) -> dict[str, Any]:
    return event_row(type, created=at, data=view(method), customer_id=method.customer_id)


@dataclass(frozen=True, slots=True)
class MethodResult:
    method: dict[str, Any]
    retry: Outcome | None  # the immediate retry of an invoice in dunning, if one was made


async def _live_sub(
    session: AsyncSession, customer_id: str, *, for_update: bool = True
) -> subs.Sub | None:
    found = await subs.load(
        session,
        Subscription.customer_id == customer_id,
        Subscription.channel == "web",  # store subscriptions are paid in the store
        Subscription.status.in_([status.value for status in LIVE_STATUSES]),
        for_update=for_update,
    )
    return found[0] if found else None


def check_token(runtime: Runtime, token: str) -> None:
    methods.refuse_card_numbers(token)
    if not runtime.provider.accepts(token):
        raise InvalidRequest(
            f"unknown payment method {token!r}; send a provider token such as pm_card_visa "
            "(see the sandbox test cards in the README) or a stored payment method id (pm_…)",
            code="unknown_payment_method",
        )


async def store_with_provider(
    runtime: Runtime, *, customer_id: str, token: str, provider_customer: str | None = None
) -> StoredCard | None:
    """Let a real provider store ``token`` for the customer (creating its customer there on
    first use) and tell the card's brand, last 4 and expiry. Outside any transaction: it calls
    the provider. None for the sandbox, whose test cards are stored as they are."""
    store: Any = getattr(runtime.provider, "store_method", None)
    if store is None:
        return None
    async with runtime.db.read() as session:
        await customers.get(session, customer_id)  # 404 before anything reaches the provider
    stored: StoredCard | None = await store(
        customer_id=customer_id, token=token, provider_customer=provider_customer
    )
    return stored


async def resolve(
    runtime: Runtime,
    session: AsyncSession,
    *,
    customer_id: str,
    payment_method: str | None,
    make_default: bool,
    stored: StoredCard | None = None,
    customer: Customer | None = None,
    now: datetime | None = None,
) -> PaymentMethod:
    """A stored method for ``payment_method``: a stored id, a provider token (stored now), or
    the customer's default when ``None``. ``customer`` (locked when a default changes) and
    ``now``: when the caller has them already."""
    # Storing or switching the default locks the customer first: two requests racing for one
    # customer queue here instead of one failing on uq_payment_methods_one_default.
    locks = make_default or (payment_method is not None and not is_valid_id(payment_method, "pm"))
    if customer is None:
        customer = await customers.get(session, customer_id, for_update=locks)
    if now is None:
        now = await runtime.now_for(session, customer.test_clock_id)
    if payment_method is None:
        default = (await methods.default_for(session, [customer_id])).get(customer_id)
        if default is None:
            raise InvalidRequest(
                f"customer {customer_id} has no default payment method; attach one with "
                f"POST /v1/customers/{customer_id}/payment_methods or pass payment_method",
                code="payment_method_required",
            )
        return default
    if is_valid_id(payment_method, "pm"):
        method = await methods.get(session, customer_id, payment_method, for_update=True)
    else:
        check_token(runtime, payment_method)
        method = await methods.attach(
            session,
            customer_id=customer_id,
            token=payment_method,
            at=now,
            stored=stored,
            default=make_default,
        )
        attached = [_event("payment_method.attached", method, now)]
        if make_default:
            attached.append(_event("payment_method.default_changed", method, now))
        await record_events(session, attached)
        return method
    if make_default and not method.is_default:
        await methods.make_default(session, method)
        await record_events(session, [_event("payment_method.default_changed", method, now)])
    return method


async def attach(
    runtime: Runtime,
    *,
    customer_id: str,
    token: str,
    default: bool,
    actor: str,
    provider_customer: str | None = None,
) -> MethodResult:
    check_token(runtime, token)
    stored = await store_with_provider(
        runtime, customer_id=customer_id, token=token, provider_customer=provider_customer
    )
    async with runtime.db.transaction() as session:
        method = await resolve(
            runtime,
            session,
            customer_id=customer_id,
            payment_method=token,
            make_default=False,
            stored=stored,
        )
    if default:
        return await set_default(runtime, customer_id=customer_id, method_id=method.id, actor=actor)
    return MethodResult(view(method), None)


async def set_default(
    runtime: Runtime, *, customer_id: str, method_id: str, actor: str
) -> MethodResult:
    """Make ``method_id`` the default; a subscription in dunning is retried with it at once,
    for what its open invoice still owes."""
    attempt_id = None
    async with runtime.db.transaction() as session:
        sub = await _live_sub(session, customer_id)  # lock order: subscription first
        method = await resolve(
            runtime, session, customer_id=customer_id, payment_method=method_id, make_default=True
        )
        uow = UnitOfWork(runtime, session, actor)
        if sub is not None:
            sub.payment_method = method.provider_token
            uow.track(sub)
            if sub.state in DUNNING_STATUSES:
                attempt_id = await _retry_now(runtime, uow, sub, method)
        await uow.flush()
        body = view(method)
    outcome = None
    if attempt_id is not None:
        outcomes = await collect(runtime, [attempt_id], actor=actor)
        outcome = outcomes[0] if outcomes else None
    return MethodResult(body, outcome)


async def _retry_now(
    runtime: Runtime, uow: UnitOfWork, sub: subs.Sub, method: PaymentMethod
) -> str | None:
    session = uow.session
    case = (await cases.open_cases(session, [sub.id], for_update=True)).get(sub.id)
    if case is not None:
        invoice_ids = [case.invoice_id]
    else:
        invoice_ids = [i.id for i in await invoices.open_for_subscriptions(session, [sub.id])]
    if not invoice_ids:
        return None
    invoice = await invoices.get(session, invoice_ids[0], for_update=True)
    owed = amount_due(invoice)
    if owed <= 0 or await attempts.pending_invoices(session, [invoice.id]):
        return None  # paid meanwhile, or a charge is in flight: its outcome decides
    now = await runtime.now_for(session, sub.test_clock_id)
    attempt = attempts.new_attempt(
        invoice_id=invoice.id,
        customer_id=sub.customer_id,
        test_clock_id=sub.test_clock_id,
        amount=owed,
        currency=invoice.currency,
        payment_method=method.provider_token,
        attempt_number=await attempts.next_attempt_number(session, invoice.id),
        created_at=now,
    )
    uow.add_attempt(attempt)
    return attempt.id


async def detach(runtime: Runtime, *, customer_id: str, method_id: str) -> dict[str, Any]:
    async with runtime.db.transaction() as session:
        sub = await _live_sub(session, customer_id)
        method = await methods.get(session, customer_id, method_id, for_update=True)
        if method.is_default and sub is not None:
            raise Conflict(
                f"{method_id} is the default payment method of live subscription {sub.id}; "
                "make another method the default first",
                code="payment_method_in_use",
                subscription=sub.id,
            )
        customer = await customers.get(session, customer_id)
        now = await runtime.now_for(session, customer.test_clock_id)
        await methods.detach(session, method, at=now)
        await record_events(session, [_event("payment_method.detached", method, now)])
        return view(method)


async def list_for(runtime: Runtime, customer_id: str) -> list[dict[str, Any]]:
    async with runtime.db.read() as session:
        await customers.get(session, customer_id)
        return [view(method) for method in await methods.list_for(session, customer_id)]


async def token_for_subscribe(
    runtime: Runtime, *, customer_id: str, payment_method: str | None, optional: bool = False
) -> str | None:
    """What ``POST /v1/subscriptions`` charges: a raw sandbox token (kept for compatibility)
    is stored as a method and becomes the default; ``None`` means the current default, or no
    method at all when ``optional`` (a trial that needs none) and the customer has none."""
    if payment_method is None and optional:
        async with runtime.db.read() as session:
            await customers.get(session, customer_id)
            default = (await methods.default_for(session, [customer_id])).get(customer_id)
        if default is None:
            return None
    stored = None
    if payment_method is not None and not is_valid_id(payment_method, "pm"):
        check_token(runtime, payment_method)
        async with runtime.db.read() as session:
            live = await _live_sub(session, customer_id, for_update=False)
        if live is None:
            stored = await store_with_provider(
                runtime, customer_id=customer_id, token=payment_method
            )
    async with runtime.db.transaction() as session:
        if payment_method is not None and await _live_sub(session, customer_id) is not None:
            return payment_method  # subscribe refuses a second live subscription; attach nothing
        method = await resolve(
            runtime,
            session,
            customer_id=customer_id,
            payment_method=payment_method,
            make_default=True,
            stored=stored,
        )
        return method.provider_token


async def stored_for_subscribe(
    runtime: Runtime, *, customer_id: str, payment_method: str | None
) -> StoredCard | None:
    """The part of a subscribe's payment method that happens before any transaction: a real
    provider stores a raw token (it is called, so never inside one). ``None`` for a stored
    method's id, the default, and the sandbox, which stores nothing; nothing is stored with
    the provider when the customer has a live subscription (the subscribe will be refused)."""
    if payment_method is None or is_valid_id(payment_method, "pm"):
        return None
    check_token(runtime, payment_method)
    if getattr(runtime.provider, "store_method", None) is None:
        return None
    async with runtime.db.read() as session:
        live = await _live_sub(session, customer_id, for_update=False)
    if live is not None:
        return None
    return await store_with_provider(runtime, customer_id=customer_id, token=payment_method)


async def method_for_subscribe(
    runtime: Runtime,
    session: AsyncSession,
    customer: Customer,
    payment_method: str | None,
    *,
    optional: bool,
    stored: StoredCard | None,
    at: datetime,
) -> str | None:
    """In the subscribe's own transaction, with the customer locked and no live subscription:
    what it charges. A raw token is stored as a method and becomes the default; ``None`` means
    the current default, or no method at all when ``optional`` and the customer has none."""
    if payment_method is None and optional:
        default = (await methods.default_for(session, [customer.id])).get(customer.id)
        if default is None:
            return None
        return default.provider_token
    method = await resolve(
        runtime,
        session,
        customer_id=customer.id,
        payment_method=payment_method,
        make_default=True,
        stored=stored,
        customer=customer,
        now=at,
    )
    return method.provider_token
