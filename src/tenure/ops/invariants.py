"""``tenure check``: the invariants a healthy database keeps, verified on a live one.

Each check is a small function ``(Context) -> list[Violation]`` that reads with its own
read-only session, so a check can be changed (or added) on its own when a rule changes. The
money checks read today's invoice columns through :func:`cash_captured`, the one place that
says which part of ``amount_paid`` was cash.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any, Final

from sqlalchemy import func, select

from tenure.billing.models import BalanceTransaction, CreditNote, CustomerBalance, Invoice
from tenure.customers.models import Customer
from tenure.entitlements.projection import projected_of
from tenure.entitlements.projection import table as entitlement_rows
from tenure.events.models import OutboxEvent
from tenure.flows import projection
from tenure.flows.runtime import Runtime
from tenure.payments.models import PaymentAttempt, SandboxCharge
from tenure.subscriptions.models import Subscription, SubscriptionHistory
from tenure.subscriptions.state import LIVE_STATUSES, Action

WEB: Final = "web"  # subscriptions Tenure bills itself (the others: app_store, google_play)
MAX_LISTED: Final = 100  # violations kept per check (all are counted)
CHUNK: Final = 500
PERIOD_BILLS: Final = ("subscription_create", "subscription_cycle", "trial_end")

# The event each state change writes (history action -> event type).
EVENT_OF_ACTION: Final[dict[str, str]] = {
    "created": "subscription.created",
    Action.FIRST_PAYMENT_SUCCEEDED.value: "subscription.activated",
    Action.TRIAL_CONVERTED.value: "subscription.activated",
    Action.INCOMPLETE_TIMED_OUT.value: "subscription.incomplete_expired",
    Action.RENEWED.value: "subscription.renewed",
    Action.PAYMENT_FAILED.value: "subscription.past_due",
    Action.PAYMENT_RECOVERED.value: "subscription.recovered",
    Action.SCHEDULE_CANCEL.value: "subscription.canceled",
    Action.REACTIVATE.value: "subscription.reactivated",
    Action.CANCEL_NOW.value: "subscription.canceled",
    Action.PERIOD_ENDED_CANCELED.value: "subscription.expired",
    Action.GRACE_EXPIRED.value: "subscription.on_hold",
    Action.DUNNING_EXHAUSTED.value: "subscription.expired",
    Action.TRIAL_EXPIRED.value: "subscription.expired",
    Action.PREPAID_ENDED.value: "subscription.expired",
    "extended": "subscription.extended",
    Action.START.value: "subscription.started",
    Action.START_TRIAL.value: "subscription.started",
    "end_trial": "subscription.trial_ended",
    Action.SCHEDULE_PAUSE.value: "subscription.pause_scheduled",
    Action.UNSCHEDULE_PAUSE.value: "subscription.pause_canceled",
    Action.PAUSE.value: "subscription.paused",
    Action.RESUME.value: "subscription.resumed",
    Action.ACCEPT_OFFER.value: "subscription.retention_offer_accepted",
    Action.SCHEDULE_PRICE_CHANGE.value: "subscription.price_change_scheduled",
    Action.ACCEPT_PRICE_CHANGE.value: "subscription.price_change_accepted",
}


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    subject: str  # the id of what is wrong
    detail: str


@dataclass
class Result:
    check: str
    description: str
    count: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.count == 0


@dataclass
class Context:
    runtime: Runtime

    def read(self) -> Any:
        return self.runtime.db.read()


CheckFn = Callable[[Context], Awaitable[list[Violation]]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    description: str
    run: CheckFn


# --- money ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceMoney:
    id: str
    channel: str  # the subscription's: web invoices are charged by Tenure, store ones are not
    status: str
    total: int
    credit_applied: int
    amount_paid: int
    amount_refunded: int
    succeeded_attempts: int
    succeeded_amount: int
    refunded_by_notes: int


def cash_captured(invoice: InvoiceMoney) -> int:
    """Cash the provider took for this invoice: ``amount_paid`` (cash only since migration
    0007; credit is ``credit_applied``). Late or excess cash counts too, and is refunded."""
    return invoice.amount_paid


def _within_total(i: InvoiceMoney) -> str | None:
    # Cash beyond what was owed (captured after the invoice closed, or more than was due) is
    # refunded automatically, so only refunded cash may exceed the total.
    if i.credit_applied + cash_captured(i) > max(i.total, 0) + i.amount_refunded:
        return (
            f"credit applied {i.credit_applied} + cash {cash_captured(i)} exceeds the total "
            f"{i.total} (refunded {i.amount_refunded})"
        )
    return None


def _settled_in_full(i: InvoiceMoney) -> str | None:
    if i.status == "paid" and i.total >= 0 and i.credit_applied + cash_captured(i) < i.total:
        return f"paid, but credit {i.credit_applied} + cash {cash_captured(i)} < total {i.total}"
    return None


def _attempts_match_cash(i: InvoiceMoney) -> str | None:
    if i.channel != WEB:
        return None  # the store captured it; there are no payment attempts
    if i.succeeded_amount != cash_captured(i):
        return f"successful attempts sum to {i.succeeded_amount}, cash recorded {cash_captured(i)}"
    return None


def _one_success_when_charged(i: InvoiceMoney) -> str | None:
    if i.channel != WEB:
        return None
    expected = 1 if cash_captured(i) > 0 else 0
    if i.succeeded_attempts != expected:
        return f"{i.succeeded_attempts} successful attempts, expected {expected}"
    return None


def _refunds_within_cash(i: InvoiceMoney) -> str | None:
    if i.amount_refunded > cash_captured(i):
        return f"refunded {i.amount_refunded} of {cash_captured(i)} cash"
    if i.amount_refunded != i.refunded_by_notes:
        return f"amount_refunded {i.amount_refunded}, succeeded credit notes {i.refunded_by_notes}"
    return None


INVOICE_RULES: Final[dict[str, tuple[str, Callable[[InvoiceMoney], str | None]]]] = {
    "invoice_amounts_within_total": (
        "credit applied + cash paid <= total, per invoice",
        _within_total,
    ),
    "paid_invoices_settled_in_full": (
        "a paid invoice's credit + cash equal its total",
        _settled_in_full,
    ),
    "attempts_match_cash_paid": (
        "successful attempts of an invoice sum to its cash paid",
        _attempts_match_cash,
    ),
    "one_successful_attempt_per_charged_invoice": (
        "one successful attempt per invoice that took cash",
        _one_success_when_charged,
    ),
    "refunds_within_cash_paid": (
        "refunds never exceed cash paid and equal the succeeded credit notes",
        _refunds_within_cash,
    ),
}


async def invoice_money(ctx: Context) -> list[InvoiceMoney]:
    a, n, i = PaymentAttempt, CreditNote, Invoice
    attempts = (
        select(
            a.invoice_id.label("invoice_id"),
            func.count().label("count"),
            func.sum(a.amount).label("amount"),
        )
        .where(a.status == "succeeded")
        .group_by(a.invoice_id)
        .subquery()
    )
    notes = (
        select(n.invoice_id.label("invoice_id"), func.sum(n.amount).label("amount"))
        .where(n.status == "succeeded")
        .group_by(n.invoice_id)
        .subquery()
    )
    s = Subscription
    statement = (
        select(
            i.id,
            func.coalesce(s.channel, WEB),
            i.status,
            i.total,
            i.credit_applied,
            i.amount_paid,
            i.amount_refunded,
            func.coalesce(attempts.c.count, 0),
            func.coalesce(attempts.c.amount, 0),
            func.coalesce(notes.c.amount, 0),
        )
        .outerjoin(attempts, attempts.c.invoice_id == i.id)
        .outerjoin(notes, notes.c.invoice_id == i.id)
        .outerjoin(s, s.id == i.subscription_id)
        .where(i.status != "draft")
        .order_by(i.id)
    )
    async with ctx.read() as session:
        rows = await session.execute(statement)
        return [InvoiceMoney(row[0], row[1], row[2], *(int(v) for v in row[3:])) for row in rows]


def _invoice_check(name: str) -> CheckFn:
    rule = INVOICE_RULES[name][1]

    async def run(ctx: Context) -> list[Violation]:
        found = []
        for invoice in await invoice_money(ctx):
            problem = rule(invoice)
            if problem is not None:
                found.append(Violation(name, invoice.id, problem))
        return found

    return run


async def balance_equals_ledger(ctx: Context) -> list[Violation]:
    b, t = CustomerBalance, BalanceTransaction
    async with ctx.read() as session:
        balances = {
            customer: amount
            for customer, amount in await session.execute(select(b.customer_id, b.amount))
        }
        ledger = {
            customer: total
            for customer, total in await session.execute(
                select(t.customer_id, func.sum(t.amount)).group_by(t.customer_id)
            )
        }
    found = []
    for customer in sorted(set(balances) | set(ledger)):
        held, summed = int(balances.get(customer, 0)), int(ledger.get(customer) or 0)
        if held != summed:
            found.append(
                Violation(
                    "balance_equals_ledger", customer, f"balance {held}, ledger sums to {summed}"
                )
            )
    return found


async def provider_ledger_agrees(ctx: Context) -> list[Violation]:
    """The sandbox provider's own ledger: every charge it made is a successful (or still
    pending) attempt here, and every successful attempt is a charge it made, for the same
    amount. Skipped for other providers (their ledger is theirs)."""
    if ctx.runtime.provider.name != "sandbox":
        return []
    c, a = SandboxCharge, PaymentAttempt
    async with ctx.read() as session:
        charges = {
            key: (status, int(amount))
            for key, status, amount in await session.execute(
                select(c.idempotency_key, c.status, c.amount)
            )
        }
        attempts = {
            key: (attempt_id, status, int(amount))
            for attempt_id, key, status, amount in await session.execute(
                select(a.id, a.idempotency_key, a.status, a.amount)
            )
        }
    found = []
    for key, (status, amount) in sorted(charges.items()):
        if status != "succeeded":
            continue
        attempt = attempts.get(key)
        if attempt is None or attempt[1] == "failed":
            state = "no attempt" if attempt is None else f"attempt {attempt[0]} failed"
            found.append(Violation("provider_ledger_agrees", key, f"charged, but {state}"))
        elif attempt[2] != amount:
            found.append(
                Violation(
                    "provider_ledger_agrees",
                    attempt[0],
                    f"attempt amount {attempt[2]}, provider charged {amount}",
                )
            )
    for key, (attempt_id, status, _) in sorted(attempts.items()):
        if status == "succeeded" and charges.get(key, ("", 0))[0] != "succeeded":
            found.append(
                Violation("provider_ledger_agrees", attempt_id, "succeeded, provider has no charge")
            )
    return found


# --- subscriptions ----------------------------------------------------------------------------


async def one_live_subscription_per_customer(ctx: Context) -> list[Violation]:
    """Web subscriptions (a store subscription may run beside one: the stores bill it)."""
    s = Subscription
    async with ctx.read() as session:
        rows = await session.execute(
            select(s.customer_id, func.count())
            .where(s.status.in_(sorted(LIVE_STATUSES)), s.channel == WEB)
            .group_by(s.customer_id)
            .having(func.count() > 1)
        )
        return [
            Violation("one_live_subscription_per_customer", customer, f"{count} live")
            for customer, count in rows
        ]


async def periods_tile(ctx: Context) -> list[Violation]:
    """A subscription's period invoices never overlap, and follow each other without a gap
    unless a plan change, a dunning recovery, a resume or a retention offer (free days), which
    can restart the period, came between; an overlap only where a pause "now" cut the earlier
    period short (its unused part was credited: docs/retention.md)."""
    i, h = Invoice, SubscriptionHistory
    restarts = (
        Action.PAYMENT_RECOVERED.value,
        Action.RESUME.value,
        Action.ACCEPT_OFFER.value,
    )
    async with ctx.read() as session:
        moves: dict[str, list[datetime]] = defaultdict(list)
        cuts: dict[str, list[datetime]] = defaultdict(list)
        for sub_id, at in await session.execute(
            select(h.subscription_id, h.at).where(h.action.in_(restarts))
        ):
            moves[sub_id].append(at)
        for sub_id, at in await session.execute(
            select(h.subscription_id, h.at).where(
                h.action == Action.PAUSE.value, h.from_status != "paused"
            )
        ):
            cuts[sub_id].append(at)
        for sub_id, at in await session.execute(
            select(i.subscription_id, i.period_start).where(
                i.billing_reason == "subscription_update", i.status == "paid"
            )
        ):
            moves[sub_id].append(at)
        # A recovery on hold that restarted the period credited the hold's days: the paid
        # period ended, in effect, where the hold began.
        held: dict[tuple[str, datetime], datetime] = {
            (sub_id, end): start
            for sub_id, start, end in await session.execute(
                select(i.subscription_id, i.period_start, i.period_end).where(
                    i.billing_reason == "hold_credit", i.status == "paid"
                )
            )
        }
        rows = (
            await session.execute(
                select(i.subscription_id, i.id, i.period_start, i.period_end)
                .join(Subscription, Subscription.id == i.subscription_id)
                .where(
                    Subscription.channel == WEB,  # a store's periods are the store's
                    i.billing_reason.in_(PERIOD_BILLS),
                    i.status != "void",
                )
                .order_by(i.subscription_id, i.period_start)
            )
        ).all()
    found = []
    for (sub_a, _, start_a, end_a), (sub_b, id_b, start_b, _) in pairwise(rows):
        end_a = held.get((sub_a, end_a), end_a)
        if sub_a != sub_b or start_b == end_a:
            continue
        cut = any(start_a <= at < end_a and at <= start_b for at in cuts.get(sub_b, ()))
        if start_b < end_a and not cut:
            found.append(
                Violation("periods_tile", id_b, f"starts {start_b} before {sub_b}'s period ends")
            )
        elif start_b > end_a and not any(
            start_a <= moved <= start_b for moved in moves.get(sub_b, ())
        ):
            found.append(Violation("periods_tile", id_b, f"gap from {end_a} to {start_b}"))
    return found


# --- events -----------------------------------------------------------------------------------


async def event_sequences_complete(ctx: Context) -> list[Violation]:
    """Each subscription's events are numbered 1..event_seq with none missing."""
    s, e = Subscription, OutboxEvent
    counts = (
        select(
            e.subscription_id.label("sub"),
            func.count().label("count"),
            func.max(e.sequence).label("last"),
        )
        .where(e.subscription_id.is_not(None))
        .group_by(e.subscription_id)
        .subquery()
    )
    async with ctx.read() as session:
        rows = await session.execute(
            select(s.id, s.event_seq, func.coalesce(counts.c.count, 0), counts.c.last)
            .outerjoin(counts, counts.c.sub == s.id)
            .where(
                (func.coalesce(counts.c.count, 0) != s.event_seq)
                | (func.coalesce(counts.c.last, 0) != s.event_seq)
            )
        )
        return [
            Violation(
                "event_sequences_complete",
                sub_id,
                f"event_seq {seq}, {count} events, last sequence {last}",
            )
            for sub_id, seq, count, last in rows
        ]


async def state_changes_have_events(ctx: Context) -> list[Violation]:
    """Every history row (a state change) has its event: per subscription and kind, at least
    as many events as changes."""
    h, e = SubscriptionHistory, OutboxEvent
    async with ctx.read() as session:
        changes = await session.execute(
            select(h.subscription_id, h.action, func.count()).group_by(h.subscription_id, h.action)
        )
        expected: dict[tuple[str, str], int] = defaultdict(int)
        for sub_id, action, count in changes:
            kind = EVENT_OF_ACTION.get(action)
            if kind is not None:
                expected[(sub_id, kind)] += int(count)
        recorded = {
            (sub_id, kind): int(count)
            for sub_id, kind, count in await session.execute(
                select(e.subscription_id, e.type, func.count())
                .where(e.subscription_id.is_not(None), e.type.like("subscription.%"))
                .group_by(e.subscription_id, e.type)
            )
        }
    return [
        Violation(
            "state_changes_have_events",
            sub_id,
            f"{count} change(s) needing {kind}, {recorded.get((sub_id, kind), 0)} event(s)",
        )
        for (sub_id, kind), count in sorted(expected.items())
        if recorded.get((sub_id, kind), 0) < count
    ]


async def paid_invoices_have_events(ctx: Context) -> list[Violation]:
    i, e = Invoice, OutboxEvent
    async with ctx.read() as session:
        paid = set((await session.scalars(select(i.id).where(i.status == "paid"))).all())
        announced = {
            data.get("invoice")
            for data in (await session.scalars(select(e.data).where(e.type == "invoice.paid")))
        }
    return [
        Violation("paid_invoices_have_events", invoice_id, "paid, no invoice.paid event")
        for invoice_id in sorted(paid - announced)
    ]


async def outbox_positions_gapless(ctx: Context) -> list[Violation]:
    e = OutboxEvent
    async with ctx.read() as session:
        count, low, high = (
            await session.execute(
                select(func.count(e.position), func.min(e.position), func.max(e.position))
            )
        ).one()
    if count and (low != 1 or high != count):
        return [
            Violation(
                "outbox_positions_gapless",
                "outbox_events",
                f"{count} numbered events span positions {low}..{high}",
            )
        ]
    return []


# --- entitlements -----------------------------------------------------------------------------


async def entitlements_match_sources(ctx: Context) -> list[Violation]:
    """Every customer's projection row equals a fresh computation from its sources."""
    found: list[Violation] = []
    after = ""
    while True:
        async with ctx.read() as session:
            ids = list(
                (
                    await session.scalars(
                        select(Customer.id)
                        .where(Customer.id > after)
                        .order_by(Customer.id)
                        .limit(CHUNK)
                    )
                ).all()
            )
            if not ids:
                return found
            stored = {
                row.customer_id: projected_of(row._mapping)
                for row in await session.execute(
                    select(entitlement_rows).where(entitlement_rows.c.customer_id.in_(ids))
                )
            }
            fresh = await projection.compute(session, ctx.runtime.catalog, ids)
        for customer_id in ids:
            have, want = stored.get(customer_id), fresh.get(customer_id)
            if have != want:
                found.append(
                    Violation(
                        "entitlements_match_sources",
                        customer_id,
                        f"stored {_describe(have)}, sources say {_describe(want)}",
                    )
                )
        after = ids[-1]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{value.product} ({value.source}, {value.status})"


CHECKS: Final[list[Check]] = [
    Check(
        "one_live_subscription_per_customer",
        "at most one live subscription per customer",
        one_live_subscription_per_customer,
    ),
    Check("periods_tile", "period invoices neither overlap nor leave gaps", periods_tile),
    *(
        Check(name, description, _invoice_check(name))
        for name, (description, _) in INVOICE_RULES.items()
    ),
    Check("balance_equals_ledger", "credit balances equal their ledger", balance_equals_ledger),
    Check(
        "provider_ledger_agrees",
        "the provider's charges match the recorded attempts",
        provider_ledger_agrees,
    ),
    Check(
        "event_sequences_complete",
        "subscription events numbered 1..n, none missing",
        event_sequences_complete,
    ),
    Check(
        "state_changes_have_events",
        "every state change has its event",
        state_changes_have_events,
    ),
    Check(
        "paid_invoices_have_events", "every paid invoice has its event", paid_invoices_have_events
    ),
    Check(
        "outbox_positions_gapless",
        "event positions are 1..n without gaps",
        outbox_positions_gapless,
    ),
    Check(
        "entitlements_match_sources",
        "entitlements equal a fresh computation",
        entitlements_match_sources,
    ),
]


async def run_checks(
    runtime: Runtime,
    *,
    only: set[str] | None = None,
    on_done: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run every check (or those named in ``only``); a check that raises is a violation."""
    ctx = Context(runtime)
    results = []
    for check in CHECKS:
        if only is not None and check.name not in only:
            continue
        result = Result(check.name, check.description)
        try:
            violations = await check.run(ctx)
        except Exception as error:
            reason = f"{type(error).__name__}: {str(error)[:200]}"
            violations = [Violation(check.name, "-", f"the check itself failed: {reason}")]
        result.count = len(violations)
        result.violations = violations[:MAX_LISTED]
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


__all__ = ["CHECKS", "Result", "Violation", "cash_captured", "run_checks"]
