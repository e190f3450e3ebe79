"""Fan-out, claim and mark for ``event_deliveries`` (see ``delivery_models``).

Claiming follows two rules:

* **Any number of relays**: candidates are locked with ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL and leased (``leased_until`` + ``lease_token``) before the transaction commits,
  so the sending happens outside any transaction and a relay that dies mid-batch only delays
  its rows until the lease runs out.
* **Order per destination and ordering key**: a row is claimable only when every earlier
  pending row with the same key is claimed in the same batch. A later event never overtakes
  an earlier one that is backing off, leased elsewhere, or was skipped because it was locked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.events.delivery_models import (
    PAUSED,
    PENDING,
    EventDelivery,
    RelayCursor,
)
from tenure.events.models import OutboxEvent

_d = table_of(EventDelivery)
_cursors = table_of(RelayCursor)
_events = table_of(OutboxEvent)


@dataclass(frozen=True, slots=True)
class EventRef:
    """What fan-out needs to know about an event to route it."""

    pk: int
    id: str
    position: int
    type: str
    customer_id: str | None
    subscription_id: str | None

    @property
    def ordering_key(self) -> str:
        # Per subscription; events without one are ordered per customer, or stand alone.
        return self.subscription_id or self.customer_id or self.id


@dataclass(slots=True)
class Claimed:
    pk: int
    destination: str
    ordering_key: str
    position: int
    attempts: int
    first_attempt_at: datetime | None
    event: dict[str, Any]  # the outbox row


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt to hand an event to a destination went."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    gone: bool = False  # the destination asked never to be called again (HTTP 410)


@dataclass(frozen=True, slots=True)
class Result:
    """The new state of one claimed delivery after an attempt."""

    pk: int
    status: str
    attempts: int
    next_attempt_at: datetime
    first_attempt_at: datetime
    last_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


def _insert(session: AsyncSession, table: Any) -> Any:
    return postgresql.insert(table) if is_postgres(session) else sqlite.insert(table)


# --- fan-out ------------------------------------------------------------------------------


async def lock_cursor(session: AsyncSession, name: str) -> int | None:
    """The cursor's position, locked for this transaction; ``None`` if another relay has it."""
    await session.execute(
        _insert(session, _cursors).values(name=name, position=0).on_conflict_do_nothing()
    )
    statement = select(_cursors.c.position).where(_cursors.c.name == name)
    if is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    position = await session.scalar(statement)
    return None if position is None else int(position)


async def set_cursor(session: AsyncSession, name: str, position: int) -> None:
    await session.execute(update(_cursors).where(_cursors.c.name == name).values(position=position))


def _refs_after(position: int, limit: int) -> Any:
    """Sequenced events after ``position``, in position order."""
    return (
        select(
            _events.c.pk,
            _events.c.id,
            _events.c.position,
            _events.c.type,
            _events.c.customer_id,
            _events.c.subscription_id,
        )
        .where(_events.c.position > position)
        .order_by(_events.c.position)
        .limit(limit)
    )


async def events_after(session: AsyncSession, position: int, limit: int) -> list[EventRef]:
    rows = await session.execute(_refs_after(position, limit))
    return [EventRef(*row) for row in rows]


def delivery_row(
    kind: str, destination: str, event: EventRef, now: datetime, *, status: str = PENDING
) -> dict[str, Any]:
    return {
        "kind": kind,
        "destination": destination,
        "event_pk": event.pk,
        "event_id": event.id,
        "position": event.position,
        "ordering_key": event.ordering_key,
        "status": status,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def enqueue(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert deliveries; one that exists already (same destination and event) is kept."""
    if rows:
        statement: Insert = _insert(session, _d).on_conflict_do_nothing()
        await session.execute(statement, list(rows))


async def requeue(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Replay: insert, or send an existing delivery again (same event id, fresh attempts).

    A row leased by a relay right now keeps its lease, so a replay never runs in parallel
    with an attempt in flight for the same event.
    """
    if not rows:
        return
    insert = _insert(session, _d)
    statement = insert.on_conflict_do_update(
        index_elements=["destination", "event_id"],
        set_={
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": insert.excluded.next_attempt_at,
            "first_attempt_at": None,
            "delivered_at": None,
        },
    )
    await session.execute(statement, list(rows))


# --- claim and mark -----------------------------------------------------------------------


async def claim(
    session: AsyncSession,
    *,
    kind: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    token: str,
    max_chain: int = 10,
) -> list[Claimed]:
    """Lease up to ``limit`` deliveries that are due and first in line for their key."""
    earlier = _d.alias("earlier")
    blocked = exists().where(
        earlier.c.destination == _d.c.destination,
        earlier.c.ordering_key == _d.c.ordering_key,
        earlier.c.status == PENDING,
        earlier.c.position < _d.c.position,
        or_(earlier.c.next_attempt_at > now, earlier.c.leased_until > now),
    )
    statement = (
        select(_d.c.pk, _d.c.destination, _d.c.ordering_key, _d.c.position)
        .where(
            _d.c.kind == kind,
            _d.c.status == PENDING,
            _d.c.next_attempt_at <= now,
            or_(_d.c.leased_until.is_(None), _d.c.leased_until <= now),
            ~blocked,
        )
        .order_by(_d.c.position, _d.c.pk)
        .limit(limit)
    )
    if is_postgres(session):
        statement = statement.with_for_update(skip_locked=True, of=_d)
    candidates = (await session.execute(statement)).all()
    if not candidates:
        return []
    keep = await _first_in_line(session, candidates, max_chain)
    if not keep:
        return []
    await session.execute(
        update(_d).where(_d.c.pk.in_(keep)).values(leased_until=now + lease, lease_token=token)
    )
    return await _load_claimed(session, keep)


async def _first_in_line(
    session: AsyncSession, candidates: Sequence[Any], max_chain: int
) -> list[int]:
    """Keep, per key, the candidates that form an unbroken prefix of its pending rows.

    A candidate behind an earlier pending row that this batch did not lock (another relay is
    claiming it right now) must wait, or the two relays could send them out of order.
    """
    mine = {row.pk for row in candidates}
    rows = await session.execute(
        select(_d.c.pk, _d.c.destination, _d.c.ordering_key)
        .where(
            _d.c.status == PENDING,
            _d.c.destination.in_({row.destination for row in candidates}),
            _d.c.ordering_key.in_({row.ordering_key for row in candidates}),
            _d.c.position <= max(row.position for row in candidates),
        )
        .order_by(_d.c.position)
    )
    chains: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, destination, key in rows:
        chains[(destination, key)].append(pk)
    keep: list[int] = []
    for row in candidates:
        chain = chains[(row.destination, row.ordering_key)]
        prefix = 0
        while prefix < len(chain) and chain[prefix] in mine:
            prefix += 1
        if row.pk in chain[: min(prefix, max_chain)]:
            keep.append(row.pk)
    return keep


async def _load_claimed(session: AsyncSession, pks: Sequence[int]) -> list[Claimed]:
    rows = await session.execute(
        select(
            _d.c.pk,
            _d.c.destination,
            _d.c.ordering_key,
            _d.c.position,
            _d.c.attempts,
            _d.c.first_attempt_at,
            _events,
        )
        .join(_events, _events.c.pk == _d.c.event_pk)
        .where(_d.c.pk.in_(list(pks)))
        .order_by(_d.c.position, _d.c.pk)
    )
    claimed = []
    for row in rows.mappings():
        event = {column.name: row[column] for column in _events.c}
        claimed.append(
            Claimed(
                pk=row[_d.c.pk],
                destination=row[_d.c.destination],
                ordering_key=row[_d.c.ordering_key],
                position=row[_d.c.position],
                attempts=row[_d.c.attempts],
                first_attempt_at=row[_d.c.first_attempt_at],
                event=event,
            )
        )
    return claimed


_FINISH = (
    update(_d)
    .where(_d.c.pk == bindparam("b_pk"), _d.c.lease_token == bindparam("b_token"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        first_attempt_at=bindparam("b_first_attempt_at"),
        last_attempt_at=bindparam("b_last_attempt_at"),
        last_status_code=bindparam("b_last_status_code"),
        last_error=bindparam("b_last_error"),
        delivered_at=bindparam("b_delivered_at"),
        leased_until=None,
        lease_token=None,
    )
)


async def finish(
    session: AsyncSession, token: str, results: Sequence[Result], released: Sequence[int]
) -> None:
    """Write a batch's outcomes; rows whose lease was lost are left alone.

    Outcomes that are alike (in a healthy batch, every delivery: delivered now, first attempt,
    HTTP 200) are written set-based, one UPDATE per kind of outcome; the rest (failures, each
    with its own jittered next attempt) in one executemany.

    ``released`` rows were claimed but not attempted (an earlier one in their chain failed):
    they go back as they were.
    """
    alike: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for result in results:
        alike[_outcome(result)].append(result.pk)
    single = []
    for outcome, pks in alike.items():
        if len(pks) == 1:
            single.append(dict(zip(_OUTCOME_FIELDS, outcome, strict=True), pk=pks[0]))
            continue
        await session.execute(
            update(_d)
            .where(_d.c.pk.in_(pks), _d.c.lease_token == token)
            .values(
                **dict(zip(_OUTCOME_FIELDS, outcome, strict=True)),
                leased_until=None,
                lease_token=None,
            )
        )
    if single:
        params = [
            {"b_token": token, **{f"b_{name}": value for name, value in fields.items()}}
            for fields in single
        ]
        connection = await session.connection()
        await connection.execute(_FINISH, params)
    if released:
        await session.execute(
            update(_d)
            .where(_d.c.pk.in_(list(released)), _d.c.lease_token == token)
            .values(leased_until=None, lease_token=None)
        )


_OUTCOME_FIELDS = tuple(name for name in Result.__slots__ if name != "pk")


def _outcome(result: Result) -> tuple[Any, ...]:
    return tuple(getattr(result, name) for name in _OUTCOME_FIELDS)


# --- per destination ----------------------------------------------------------------------


async def pause(session: AsyncSession, destination: str) -> None:
    await session.execute(
        update(_d)
        .where(_d.c.destination == destination, _d.c.status == PENDING)
        .values(status=PAUSED)
    )


async def resume(session: AsyncSession, destination: str, now: datetime) -> None:
    await session.execute(
        update(_d)
        .where(_d.c.destination == destination, _d.c.status == PAUSED)
        .values(status=PENDING, next_attempt_at=now)
    )


async def forget(session: AsyncSession, destination: str) -> None:
    """A deleted destination's deliveries go with it."""
    await session.execute(_d.delete().where(_d.c.destination == destination))


async def listing(
    session: AsyncSession,
    destination: str,
    *,
    status: str | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    statement = (
        select(_d, _events.c.type)
        .join(_events, _events.c.pk == _d.c.event_pk)
        .where(_d.c.destination == destination)
        .order_by(_d.c.position)
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(_d.c.status == status)
    if after is not None:
        statement = statement.where(_d.c.position > after)
    return [dict(row) for row in (await session.execute(statement)).mappings()]


async def counts(session: AsyncSession, destination: str) -> dict[str, int]:
    rows = await session.execute(
        select(_d.c.status, func.count())
        .where(_d.c.destination == destination)
        .group_by(_d.c.status)
    )
    return {status: int(count) for status, count in rows}


async def events_for_replay(
    session: AsyncSession, *, since: datetime | None, event_id: str | None, after: int, limit: int
) -> list[EventRef]:
    """Sequenced events created at or after ``since`` (or the one event), in position order."""
    statement = _refs_after(after, limit)
    if since is not None:
        statement = statement.where(_events.c.created >= since)
    if event_id is not None:
        statement = statement.where(_events.c.id == event_id)
    return [EventRef(*row) for row in await session.execute(statement)]
