"""A subscription as a plain working copy of its row, and the few operations on it.

Single-subscription use cases and the renewal batch share this code: rows are read with one
query, changed in memory by pure rules (:mod:`state`, :mod:`schedule`), and written back with
set-based statements of only the changed columns (:mod:`tenure.db.bulk`). No ORM identity
map, no lazy loads on the hot path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.bulk import insert_rows, update_rows
from tenure.db.engine import is_postgres
from tenure.db.touched import touch_customers
from tenure.events.record import event_row
from tenure.kernel.clock import rfc3339
from tenure.subscriptions import changes, schedule
from tenure.subscriptions.changes import ChangeKind, PendingChange
from tenure.subscriptions.models import Subscription, SubscriptionHistory
from tenure.subscriptions.state import ENTITLED_STATUSES, Action, Status, transition

_table = table_of(Subscription)
_history = table_of(SubscriptionHistory)


@dataclass(slots=True)
class Sub:
    id: str
    customer_id: str
    test_clock_id: str | None
    market: str
    region: str | None
    plan_id: str
    product_id: str
    price_amount: int
    currency: str
    intro_price: int | None
    intro_periods_remaining: int
    status: str
    billing_anchor: datetime
    current_period_start: datetime
    current_period_end: datetime
    trial_start: datetime | None
    trial_end: datetime | None
    trial_notice_sent: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    ended_reason: str | None
    incomplete_expires_at: datetime | None
    grace_ends_at: datetime | None
    payment_method: str | None
    next_action_at: datetime | None
    event_seq: int
    created_at: datetime
    updated_at: datetime
    # Dunning clocks; None outside dunning. Defaulted so callers building a new Sub skip them.
    hold_ends_at: datetime | None = None
    next_retry_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # web (Tenure bills it), app_store or google_play (the store bills it; tenure.stores).
    channel: str = "web"
    renews: bool = True  # False: prepaid, ends with the time bought
    # When subscription.pause_ending is due for the running pause; None once sent (or none).
    pause_notice_at: datetime | None = None
    cancel_reason: str | None = None  # CancelReason, or price_change_declined
    cancel_comment: str | None = None
    price_version: str | None = None  # the catalog price version of price_amount
    # Not a column: the pending rows of ``scheduled_changes``, loaded with the subscription.
    pending: dict[ChangeKind, PendingChange] = field(default_factory=dict)
    # Not a column: the stored values of the mutable columns as last loaded or saved, so a save
    # writes only what changed (None: unknown, every column is written).
    stored: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def state(self) -> Status:
        return Status(self.status)

    def take_period_price(self) -> int:
        """The price of the next billed period: the intro price while it lasts."""
        if self.intro_price is not None and self.intro_periods_remaining > 0:
            self.intro_periods_remaining -= 1
            return self.intro_price
        return self.price_amount

    @property
    def cancel_at_period_end(self) -> bool:
        return ChangeKind.CANCEL in self.pending

    @property
    def pending_plan(self) -> PendingChange | None:
        return self.pending.get(ChangeKind.PLAN)

    @property
    def pending_pause(self) -> PendingChange | None:
        """A pause scheduled to start at the period end (not yet running)."""
        return self.pending.get(ChangeKind.PAUSE)

    @property
    def pending_price(self) -> PendingChange | None:
        return self.pending.get(ChangeKind.PRICE)

    def timeline(self) -> schedule.Timeline:
        return schedule.Timeline(
            status=self.state,
            current_period_end=self.current_period_end,
            trial_end=self.trial_end,
            trial_notice_sent=self.trial_notice_sent,
            cancel_at_period_end=self.cancel_at_period_end,
            incomplete_expires_at=self.incomplete_expires_at,
            grace_ends_at=self.grace_ends_at,
            hold_ends_at=self.hold_ends_at,
            next_retry_at=self.next_retry_at,
            store_managed=self.channel != "web",
            has_payment_method=bool(self.payment_method),
            renews=self.renews,
            pause_at=self.pending_pause.effective_at if self.pending_pause else None,
            pause_notice_at=self.pause_notice_at,
            price_declined_at=_declined_at(self.pending_price),
        )

    def reschedule(self, at: datetime) -> None:
        self.next_action_at = schedule.next_action_at(self.timeline())
        self.updated_at = at

    def apply(
        self, action: Action, *, at: datetime, actor: str, reason: str | None = None
    ) -> HistoryEntry:
        """Move through the transition table; returns the history row to insert."""
        before = self.state
        self.status = transition(before, action).value
        self.reschedule(at)
        return HistoryEntry(self.id, at, before.value, self.status, action.value, reason, actor)

    def note(self, action: str, *, at: datetime, actor: str, reason: str | None) -> HistoryEntry:
        """A history row for a change that keeps the status (a plan change, a new anchor)."""
        return HistoryEntry(self.id, at, self.status, self.status, action, reason, actor)

    def event(self, type: str, *, at: datetime, **extra: Any) -> dict[str, Any]:
        """An outbox row for this subscription with the next per-subscription sequence."""
        data = payload(self)
        data.update(extra)
        return event_row(
            type,
            created=at,
            data=data,
            customer_id=self.customer_id,
            subscription_id=self.id,
            sequence=self.next_sequence(),
        )

    def next_sequence(self) -> int:
        """Events about one subscription are numbered 1, 2, 3, ... in the order they happen."""
        self.event_seq += 1
        return self.event_seq


def _declined_at(change: PendingChange | None) -> datetime | None:
    """An opt-in price change not (yet) accepted: where the subscription ends instead."""
    if change is None or change.consent != "opt_in" or change.accepted_at is not None:
        return None
    return change.effective_at


_FIELDS = tuple(column.name for column in _table.columns)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One row of ``subscription_history``: when, from, to, what, why, who."""

    subscription_id: str
    at: datetime
    from_status: str | None
    to_status: str
    action: str
    reason: str | None
    actor: str


def payload(sub: Sub) -> dict[str, Any]:
    """What an event consumer needs to act without calling back."""

    def ts(value: datetime | None) -> str | None:
        return None if value is None else rfc3339(value)

    return {
        "subscription": sub.id,
        "customer": sub.customer_id,
        "status": sub.status,
        "plan": sub.plan_id,
        "product": sub.product_id,
        "market": sub.market,
        "price": {"amount": sub.price_amount, "currency": sub.currency},
        "intro_periods_remaining": sub.intro_periods_remaining,
        "current_period_start": ts(sub.current_period_start),
        "current_period_end": ts(sub.current_period_end),
        "trial_end": ts(sub.trial_end),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "pending_change": pending_change(sub),
        "ended_at": ts(sub.ended_at),
        "ended_reason": sub.ended_reason,
        "metadata": dict(sub.metadata),
        "channel": sub.channel,
        "renews": sub.renews,
        "pause": pause_of(sub),
        "cancellation": cancellation_of(sub),
        "pending_price": pending_price_of(sub),
    }


def pending_price_of(sub: Sub) -> dict[str, Any] | None:
    """A scheduled price change: the new amount, from which renewal, and the consent state
    (notice: applies unless canceled; opt_in: must be accepted; accepted)."""
    change = sub.pending_price
    if change is None or change.amount is None:
        return None
    return {
        "amount": change.amount,
        "currency": sub.currency,
        "effective_at": rfc3339(change.effective_at),
        "consent": "accepted" if change.accepted_at is not None else change.consent,
    }


class CancelReason(StrEnum):
    """Why a customer canceled: the fixed list the cancel request takes (docs/retention.md)."""

    TOO_EXPENSIVE = "too_expensive"
    NOT_USING = "not_using"
    TECHNICAL_ISSUES = "technical_issues"
    SWITCHING_SERVICE = "switching_service"
    OTHER = "other"


def cancellation_of(sub: Sub) -> dict[str, Any] | None:
    if sub.cancel_reason is None:
        return None
    return {"reason": sub.cancel_reason, "comment": sub.cancel_comment}


def pause_of(sub: Sub) -> dict[str, Any] | None:
    """A web pause, scheduled (from the period end) or running (the current period is the
    pause itself: it resumes at ``current_period_end``)."""
    scheduled = sub.pending_pause
    if scheduled is not None and scheduled.resumes_at is not None:
        return {
            "status": "scheduled",
            "starts_at": rfc3339(scheduled.effective_at),
            "resumes_at": rfc3339(scheduled.resumes_at),
        }
    if sub.state is Status.PAUSED and sub.channel == "web":
        return {
            "status": "active",
            "starts_at": rfc3339(sub.current_period_start),
            "resumes_at": rfc3339(sub.current_period_end),
        }
    return None


def pending_change(sub: Sub) -> dict[str, Any] | None:
    change = sub.pending_plan
    if change is None:
        return None
    return {"plan": change.plan_id, "effective_at": rfc3339(change.effective_at)}


async def load(
    session: AsyncSession,
    *conditions: ColumnElement[bool],
    for_update: bool = False,
    skip_locked: bool = False,
    order_by: Sequence[Any] = (),
    limit: int | None = None,
) -> list[Sub]:
    statement = select(_table).where(*conditions).order_by(*order_by)
    if limit is not None:
        statement = statement.limit(limit)
    if for_update and is_postgres(session):
        statement = statement.with_for_update(skip_locked=skip_locked)
    rows = (await session.execute(statement)).mappings().all()
    subs = [Sub(**{name: row[name] for name in _FIELDS}) for row in rows]
    for sub in subs:
        sub.stored = _stored(sub)
    pending = await changes.load_pending(session, [sub.id for sub in subs])
    for sub in subs:
        sub.pending = pending[sub.id]
    return subs


async def load_one(session: AsyncSession, subscription_id: str, *, for_update: bool) -> Sub | None:
    found = await load(session, _table.c.id == subscription_id, for_update=for_update)
    return found[0] if found else None


async def insert_new(session: AsyncSession, sub: Sub) -> None:
    connection = await session.connection()
    await connection.execute(_INSERT, {name: getattr(sub, name) for name in _FIELDS})
    if sub.state in _PROJECTED:
        # Entitlements follow in the same transaction. An incomplete or scheduled subscription
        # is no source of any (entitlements.projection), so its customer's stay as they are.
        touch_customers(session, [sub.customer_id])


_INSERT = insert(_table)
_PROJECTED = frozenset({*ENTITLED_STATUSES, Status.ON_HOLD})


_MUTABLE = tuple(
    name for name in _FIELDS if name not in ("id", "customer_id", "created_at", "channel")
)
_METADATA = _MUTABLE.index("metadata")


def _stored(sub: Sub) -> tuple[Any, ...]:
    values = [getattr(sub, name) for name in _MUTABLE]
    values[_METADATA] = dict(values[_METADATA])  # a copy: the record's dict may change in place
    return tuple(values)


async def save(session: AsyncSession, subs: Iterable[Sub]) -> None:
    """Write back the changed columns of ``subs``: one set-based UPDATE per set of changed
    columns (a renewal batch changes the same few columns of every subscription)."""
    items = list(subs)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for sub in items:
        now = _stored(sub)
        before = sub.stored
        names = (
            _MUTABLE
            if before is None
            else tuple(name for name, a, b in zip(_MUTABLE, now, before, strict=True) if a != b)
        )
        if names:
            groups[names].append({"id": sub.id, **{name: getattr(sub, name) for name in names}})
        sub.stored = now
    for rows in groups.values():
        await update_rows(session, _table, "id", rows)
    if items:
        touch_customers(session, [sub.customer_id for sub in items])


async def add_history(session: AsyncSession, entries: Sequence[HistoryEntry]) -> None:
    if entries:
        await insert_rows(
            session,
            _history,
            [
                {
                    "subscription_id": entry.subscription_id,
                    "at": entry.at,
                    "from_status": entry.from_status,
                    "to_status": entry.to_status,
                    "action": entry.action,
                    "reason": entry.reason,
                    "actor": entry.actor,
                }
                for entry in entries
            ],
        )
