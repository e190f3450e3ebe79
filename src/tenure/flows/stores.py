"""A store's report applied to Tenure's lifecycle: one subscription, whatever the channel.

:func:`apply` takes :class:`~tenure.stores.facts.StoreFacts` (from a verified notification or
the store's API) inside the caller's transaction and, through one unit of work:

1. finds the store subscription (``store_subscriptions``, unique per store identity) or, for a
   new one, the customer its ``appAccountToken`` / ``obfuscatedExternalAccountId`` names, and
   creates a ``channel`` subscription for it (``created``, then ``activated``, as on the web);
2. records the money: each store transaction once, as a paid invoice; refunds as credit notes
   (:mod:`tenure.flows.store_money`);
3. unless the report is older than the state already applied (the store's signed time; a
   stale report never moves a subscription backwards), moves the subscription through the
   transition table (:mod:`tenure.stores.lifecycle`), with the same history rows and events
   as a web subscription, and takes the store's period, plan, auto-renew and grace.

The entitlement projection follows at COMMIT like for every other change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from tenure.catalog.model import Plan
from tenure.customers import service as customers
from tenure.flows import store_money
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.clock import rfc3339
from tenure.kernel.ids import new_id
from tenure.stores import lifecycle, records
from tenure.stores.facts import Happened, PriceConsent, StoreFacts
from tenure.stores.records import Link
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.record import HistoryEntry, Sub
from tenure.subscriptions.state import TERMINAL_STATUSES, Action, Status, is_allowed

# An apply's outcome, stored on the notification: processed, stale, unlinked, unmapped.
PROCESSED: Final = "processed"
STALE: Final = "stale"
UNLINKED: Final = "unlinked"
UNMAPPED: Final = "unmapped"
# Apple retries billing for up to 60 days; Google holds for up to 30 (plus grace).
LONGEST_RETRY: Final = timedelta(days=60)

_EVENTS: Final[dict[Action, str]] = {
    Action.FIRST_PAYMENT_SUCCEEDED: "subscription.activated",
    Action.TRIAL_CONVERTED: "subscription.activated",
    Action.RENEWED: "subscription.renewed",
    Action.PAYMENT_FAILED: "subscription.past_due",
    Action.PAYMENT_RECOVERED: "subscription.recovered",
    Action.GRACE_EXPIRED: "subscription.on_hold",
    Action.HOLD: "subscription.on_hold",
    Action.SCHEDULE_CANCEL: "subscription.canceled",
    Action.REACTIVATE: "subscription.reactivated",
    Action.CANCEL_NOW: "subscription.canceled",
    Action.REVOKE: "subscription.canceled",
    Action.PERIOD_ENDED_CANCELED: "subscription.expired",
    Action.DUNNING_EXHAUSTED: "subscription.expired",
    Action.INCOMPLETE_TIMED_OUT: "subscription.incomplete_expired",
    Action.PAUSE: "subscription.paused",
    Action.RESUME: "subscription.resumed",
    Action.REINSTATE: "subscription.reinstated",
}


@dataclass(frozen=True, slots=True)
class Applied:
    status: str  # processed | stale | unlinked | unmapped
    note: str | None = None
    link: Link | None = None
    subscription_id: str | None = None


async def apply(
    runtime: Runtime,
    uow: UnitOfWork,
    facts: StoreFacts,
    *,
    customer_id: str | None = None,
    link: Link | None = None,
) -> Applied:
    """Apply ``facts`` in ``uow`` (the caller flushes and commits)."""
    session = uow.session
    if link is None:
        link = await records.link_by_key(
            session, facts.channel.value, facts.store_key, for_update=True
        )
    if link is None:
        return await _first_report(runtime, uow, facts, customer_id)
    sub = await subs.load_one(session, link.subscription_id, for_update=True)
    if sub is None:  # a link always names its subscription; a bug if not
        raise RuntimeError(f"store subscription {link.id} has no subscription")
    now = await runtime.now_for(session, sub.test_clock_id)
    uow.track(sub)
    stale = facts.as_of < link.state_as_of
    target = facts.status
    if (
        not stale
        and target is not None
        and lifecycle.needs_new_subscription(sub.state, target, facts.happened)
    ):
        plan = runtime.stores.products.plan_for(runtime.catalog, facts.channel, facts.product_id)
        if plan is None:
            return Applied(UNMAPPED, _unmapped(facts), link, sub.id)
        sub = await _create(runtime, uow, sub.customer_id, plan, facts, now)
        link.subscription_id = sub.id
    await store_money.record(uow, sub, link.id, facts, at=now, first=False)
    if stale:
        await _finish_link(runtime, uow, link, facts, sub, advance=False, now=now)
        return Applied(
            STALE,
            f"signed {rfc3339(facts.as_of)}, before the state applied "
            f"({rfc3339(link.state_as_of)}); money recorded, state kept",
            link,
            sub.id,
        )
    note = await _move(runtime, uow, sub, facts, now)
    await _finish_link(runtime, uow, link, facts, sub, advance=True, now=now)
    return Applied(PROCESSED, note, link, sub.id)


def _unmapped(facts: StoreFacts) -> str:
    return (
        f"store product {facts.product_id!r} is not in the store products map "
        "(TENURE_STORE_PRODUCTS); fix it and replay"
    )


async def _first_report(
    runtime: Runtime, uow: UnitOfWork, facts: StoreFacts, customer_id: str | None
) -> Applied:
    session = uow.session
    customer_id = customer_id or await records.customer_for(session, facts.account_ref)
    if customer_id is None:
        return Applied(
            UNLINKED,
            "no customer has this appAccountToken / obfuscatedExternalAccountId; link it with "
            "POST /v1/stores/{store}/reconcile",
        )
    plan = runtime.stores.products.plan_for(runtime.catalog, facts.channel, facts.product_id)
    if plan is None:
        return Applied(UNMAPPED, _unmapped(facts))
    customer = await customers.get(session, customer_id, for_update=True)
    now = await runtime.now_for(session, customer.test_clock_id)
    sub = await _create(runtime, uow, customer.id, plan, facts, now)
    link = Link(
        id=new_id("sst"),
        channel=facts.channel.value,
        store_key=facts.store_key,
        environment=facts.environment,
        customer_id=customer.id,
        subscription_id=sub.id,
        product_id=facts.product_id,
        state_as_of=facts.as_of,
        created_at=now,
        updated_at=now,
    )
    await records.insert_link(session, link)
    await store_money.record(uow, sub, link.id, facts, at=now, first=True)
    note = await _move(runtime, uow, sub, facts, now)
    await _finish_link(runtime, uow, link, facts, sub, advance=True, now=now, new=True)
    return Applied(PROCESSED, note, link, sub.id)


async def _create(
    runtime: Runtime, uow: UnitOfWork, customer_id: str, plan: Plan, facts: StoreFacts, now: Any
) -> Sub:
    """A new subscription for the store's: ``trialing`` for a free trial, else ``incomplete``
    until :func:`_move` takes it where the store says (``activated`` on the way)."""
    customer = await customers.get(uow.session, customer_id)
    start = facts.period_start or facts.as_of
    end = facts.period_end or start
    trial = facts.status is Status.TRIALING
    price = _price_of(runtime, facts, plan, customer.market)
    sub = Sub(
        id=new_id("sub"),
        customer_id=customer.id,
        test_clock_id=customer.test_clock_id,
        market=customer.market,
        region=customer.region,
        plan_id=plan.id,
        product_id=plan.product,
        price_amount=price[0],
        currency=price[1],
        intro_price=None,
        intro_periods_remaining=0,
        status=(Status.TRIALING if trial else Status.INCOMPLETE).value,
        billing_anchor=start,
        current_period_start=start,
        current_period_end=end,
        trial_start=start if trial else None,
        trial_end=end if trial else None,
        trial_notice_sent=True,  # the store tells the customer, not Tenure
        canceled_at=None,
        ended_at=None,
        ended_reason=None,
        incomplete_expires_at=None,
        grace_ends_at=None,
        payment_method=None,
        next_action_at=None,
        event_seq=0,
        created_at=now,
        updated_at=now,
        channel=facts.channel.value,
    )
    sub.reschedule(now)
    uow.add_sub(sub)
    uow.record(
        HistoryEntry(sub.id, now, None, sub.status, "created", facts.channel.value, uow.actor)
    )
    uow.emit(sub.event("subscription.created", at=now))
    return sub


def _price_of(runtime: Runtime, facts: StoreFacts, plan: Plan, market: str) -> tuple[int, str]:
    if facts.family_shared:  # the purchaser pays; a family member's copy costs nothing
        for txn in facts.transactions:
            if txn.price is not None:
                return 0, txn.price.currency
    for txn in facts.transactions:
        if txn.price is not None and not txn.free_trial:
            return txn.price.amount, txn.price.currency
    if facts.renewal_price is not None:
        return facts.renewal_price.amount, facts.renewal_price.currency
    found = runtime.catalog.markets.get(market)
    if found is not None and market in plan.prices:
        return plan.prices[market], found.currency
    return 0, found.currency if found else "USD"


def _step(
    uow: UnitOfWork, sub: Sub, action: Action, facts: StoreFacts, now: datetime, **extra: Any
) -> None:
    before = sub.status
    reason = facts.ended_reason if action in _ENDINGS else facts.happened.value
    uow.record(
        sub.apply(action, at=now, actor=uow.actor, reason=f"{facts.channel.value}: {reason}")
    )
    event = _EVENTS.get(action)
    if event is None:
        return
    if action is Action.PAYMENT_FAILED:
        extra.update(decline_code=None, grace_ends_at=_ts(sub.grace_ends_at))
    elif action is Action.PAYMENT_RECOVERED:
        extra.update(recovered_from=before, recovery=facts.channel.value)
    elif action in (Action.SCHEDULE_CANCEL, Action.CANCEL_NOW, Action.REVOKE):
        extra.update(
            at_period_end=action is Action.SCHEDULE_CANCEL,
            voided_invoices=[],
            reason=None if action is Action.SCHEDULE_CANCEL else facts.ended_reason,
        )
    elif action in (Action.PERIOD_ENDED_CANCELED, Action.DUNNING_EXHAUSTED):
        extra["reason"] = sub.ended_reason or "expired"
    elif action is Action.INCOMPLETE_TIMED_OUT:
        extra["reason"] = sub.ended_reason or "incomplete_expired"
    uow.emit(sub.event(event, at=now, **extra))


_ENDINGS: Final = frozenset(
    {
        Action.CANCEL_NOW,
        Action.REVOKE,
        Action.PERIOD_ENDED_CANCELED,
        Action.DUNNING_EXHAUSTED,
        Action.INCOMPLETE_TIMED_OUT,
    }
)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


async def _move(
    runtime: Runtime, uow: UnitOfWork, sub: Sub, facts: StoreFacts, now: datetime
) -> str | None:
    """Take ``sub`` where the store says it is; returns a note for the inbox, if any."""
    note = await _plan(runtime, uow, sub, facts, now)
    moved_period = _period(sub, facts)
    target, steps = _steps(sub, facts)
    if target in TERMINAL_STATUSES and steps:
        sub.ended_at = facts.as_of if target is Status.CANCELED else sub.current_period_end
        sub.ended_reason = facts.ended_reason or "expired"
        if target is Status.CANCELED:
            sub.canceled_at = facts.as_of
        uow.drop_pending(sub, at=now)
    if target is Status.PAST_DUE:
        sub.grace_ends_at = facts.grace_ends_at or sub.grace_ends_at
    for action in steps:
        if action in (Action.PAYMENT_RECOVERED, Action.RESUME, Action.REINSTATE):
            sub.grace_ends_at = None
        if action is Action.REINSTATE:
            sub.ended_at = sub.ended_reason = sub.canceled_at = None
        _step(uow, sub, action, facts, now)
    renewing = {Action.RENEWED, Action.TRIAL_CONVERTED, Action.PAYMENT_RECOVERED, Action.RESUME}
    if (
        moved_period
        and sub.state is Status.ACTIVE
        and not renewing & set(steps)
        and Action.FIRST_PAYMENT_SUCCEEDED not in steps
        and facts.happened in (Happened.RENEWED, Happened.SYNCED, Happened.RECOVERED)
    ):
        _step(uow, sub, Action.RENEWED, facts, now)
    elif moved_period and facts.happened is Happened.EXTENDED:
        uow.record(
            sub.note("renewal_extended", at=now, actor=uow.actor, reason=facts.channel.value)
        )
        uow.emit(sub.event("subscription.updated", at=now, changed=["current_period_end"]))
    await _auto_renew(uow, sub, facts, now)
    _price_notice(uow, sub, facts, now)
    if facts.happened is Happened.OFFER_REDEEMED:
        uow.record(sub.note("offer_redeemed", at=now, actor=uow.actor, reason=facts.channel.value))
    sub.updated_at = now
    return note


def _steps(sub: Sub, facts: StoreFacts) -> tuple[Status | None, list[Action]]:
    """Where the store says the subscription is, and the legal steps to get there."""
    target = facts.status
    if target is None and sub.state is Status.INCOMPLETE:
        target = Status.ACTIVE  # first seen already running (Google: canceled, not expired)
    if target is None:
        return None, []
    steps: list[Action] = []
    unpaid = (Status.INCOMPLETE, Status.INCOMPLETE_EXPIRED, Status.CANCELED)
    if sub.state is Status.INCOMPLETE and target not in unpaid:
        steps.append(Action.FIRST_PAYMENT_SUCCEEDED)
    start = Status.ACTIVE if steps else sub.state
    steps += lifecycle.path(start, target, facts.happened, reason=facts.ended_reason)
    return target, steps


def _period(sub: Sub, facts: StoreFacts) -> bool:
    """Take the store's period when it moves forward; never backwards."""
    end = facts.period_end
    if end is None or end <= sub.current_period_end:
        return False
    contiguous = facts.happened in (Happened.RENEWED, Happened.SYNCED, Happened.EXTENDED)
    start = facts.period_start or (sub.current_period_end if contiguous else facts.as_of)
    if facts.happened is not Happened.EXTENDED:
        sub.current_period_start = min(start, end)
        if not contiguous:
            sub.billing_anchor = sub.current_period_start  # a new billing date (recovery)
    sub.current_period_end = end
    if sub.state is Status.TRIALING and sub.trial_end is not None:
        sub.trial_end = end if facts.status is Status.TRIALING else sub.trial_end
    return True


async def _plan(
    runtime: Runtime, uow: UnitOfWork, sub: Sub, facts: StoreFacts, now: datetime
) -> str | None:
    """The store's product now, and the one at the next renewal (a pending downgrade)."""
    products, catalog = runtime.stores.products, runtime.catalog
    plan = products.plan_for(catalog, facts.channel, facts.product_id)
    if plan is None:
        return _unmapped(facts) + "; the plan was kept"
    if plan.id != sub.plan_id:
        previous = sub.plan_id
        pending = sub.pending_plan
        kind = "upgrade" if facts.happened is Happened.UPGRADED else "crossgrade"
        if pending is not None and pending.plan_id == plan.id:
            kind = "downgrade"
            sub.pending.pop(ChangeKind.PLAN)
            uow.close_change(pending.id, status="applied", at=now)
        sub.plan_id, sub.product_id = plan.id, plan.product
        uow.record(sub.note("plan_changed", at=now, actor=uow.actor, reason=facts.channel.value))
        uow.emit(
            sub.event(
                "subscription.plan_changed",
                at=now,
                previous_plan=previous,
                change_type=kind,
                effective="now",
            )
        )
    renewal = facts.renewal_product_id
    if renewal is None or sub.state in TERMINAL_STATUSES:
        return None
    pending = sub.pending_plan
    next_plan = products.plan_for(catalog, facts.channel, renewal)
    if renewal == facts.product_id or next_plan is None or next_plan.id == sub.plan_id:
        if pending is not None:
            await changes.close(
                uow.session, sub.pending, [ChangeKind.PLAN], status="canceled", at=now
            )
            uow.emit(
                sub.event(
                    "subscription.plan_change_canceled", at=now, canceled_plan=pending.plan_id
                )
            )
        return (
            None
            if next_plan is not None or renewal == facts.product_id
            else _unmapped(replace(facts, product_id=renewal))
        )
    if pending is None or pending.plan_id != next_plan.id:
        await changes.add(
            uow.session,
            sub.pending,
            subscription_id=sub.id,
            kind=ChangeKind.PLAN,
            effective_at=sub.current_period_end,
            at=now,
            plan_id=next_plan.id,
        )
        uow.emit(sub.event("subscription.plan_change_scheduled", at=now, change_type="downgrade"))
    return None


async def _auto_renew(uow: UnitOfWork, sub: Sub, facts: StoreFacts, now: datetime) -> None:
    if facts.auto_renew is None or sub.state in TERMINAL_STATUSES:
        return
    if facts.auto_renew is False and not sub.cancel_at_period_end:
        if not is_allowed(sub.state, Action.SCHEDULE_CANCEL):
            return
        await changes.add(
            uow.session,
            sub.pending,
            subscription_id=sub.id,
            kind=ChangeKind.CANCEL,
            effective_at=sub.current_period_end,
            at=now,
        )
        sub.canceled_at = facts.as_of
        _step(uow, sub, Action.SCHEDULE_CANCEL, facts, now)
    elif facts.auto_renew is True and sub.cancel_at_period_end:
        await changes.close(
            uow.session, sub.pending, [ChangeKind.CANCEL], status="canceled", at=now
        )
        sub.canceled_at = None
        _step(uow, sub, Action.REACTIVATE, facts, now)


def _price_notice(uow: UnitOfWork, sub: Sub, facts: StoreFacts, now: datetime) -> None:
    if facts.price_consent is None:
        return
    new_price = facts.renewal_price
    uow.record(
        sub.note(
            f"price_increase_{facts.price_consent.value}",
            at=now,
            actor=uow.actor,
            reason=facts.channel.value,
        )
    )
    uow.emit(
        sub.event(
            "subscription.price_increase",
            at=now,
            consent=facts.price_consent.value,
            new_price=None
            if new_price is None
            else {"amount": new_price.amount, "currency": new_price.currency},
            effective_at=_ts(sub.current_period_end)
            if facts.price_consent is PriceConsent.ACCEPTED
            else None,
        )
    )


async def _finish_link(
    runtime: Runtime,
    uow: UnitOfWork,
    link: Link,
    facts: StoreFacts,
    sub: Sub,
    *,
    advance: bool,
    now: datetime,
    new: bool = False,
) -> None:
    if advance:
        link.state_as_of = max(link.state_as_of, facts.as_of)
        link.product_id = facts.product_id
        link.check_after = check_after(sub, runtime.stores.settings.missed_after_hours)
        _sync_price(sub, facts)
    link.updated_at = now
    if not new or advance:
        await records.save_link(uow.session, link)


def _sync_price(sub: Sub, facts: StoreFacts) -> None:
    """The price the subscription shows: the latest charge for its current product."""
    for txn in facts.transactions:
        if txn.price is not None and not txn.free_trial and txn.product_id == facts.product_id:
            sub.price_amount = 0 if txn.family_shared else txn.price.amount
            sub.currency = txn.price.currency


def check_after(sub: Sub, hours: float) -> datetime | None:
    """When to ask the store's API if it has not said anything (a missed notification)."""
    slack = timedelta(hours=hours)
    state = sub.state
    if state in TERMINAL_STATUSES:
        return None
    if state is Status.PAST_DUE and sub.grace_ends_at is not None:
        return sub.grace_ends_at + slack
    if state is Status.ON_HOLD:
        return min(sub.current_period_end + LONGEST_RETRY, sub.updated_at + timedelta(days=1))
    return sub.current_period_end + slack
