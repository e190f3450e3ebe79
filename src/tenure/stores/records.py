"""Store rows on the caller's session: links, purchase tokens, transactions, the inbox, account
tokens. Rows become :class:`Link` here and nowhere else. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.customers.models import Customer
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.kernel.ids import is_valid_id
from tenure.stores.models import (
    StoreAccountToken,
    StoreNotification,
    StorePurchaseToken,
    StoreSubscription,
    StoreTransaction,
)

_links = table_of(StoreSubscription)
_tokens = table_of(StorePurchaseToken)
_txns = table_of(StoreTransaction)
_inbox = table_of(StoreNotification)
_accounts = table_of(StoreAccountToken)
_LINK_FIELDS = tuple(column.name for column in _links.columns)


@dataclass(slots=True)
class Link:
    """A store subscription and the Tenure subscription that shows it."""

    id: str
    channel: str
    store_key: str
    environment: str
    customer_id: str
    subscription_id: str
    product_id: str
    state_as_of: datetime
    created_at: datetime
    updated_at: datetime
    check_after: datetime | None = None
    token_hash: str | None = None
    ack_state: str | None = None
    ack_due_at: datetime | None = None


def _dialect(session: AsyncSession) -> Any:
    return postgresql if is_postgres(session) else sqlite


async def _one_link(session: AsyncSession, condition: Any, *, for_update: bool) -> Link | None:
    statement = select(_links).where(condition)
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    row = (await session.execute(statement)).mappings().first()
    return None if row is None else Link(**{name: row[name] for name in _LINK_FIELDS})


async def link_by_key(
    session: AsyncSession, channel: str, store_key: str, *, for_update: bool = False
) -> Link | None:
    condition = (_links.c.channel == channel) & (_links.c.store_key == store_key)
    return await _one_link(session, condition, for_update=for_update)


async def link_by_id(
    session: AsyncSession, link_id: str, *, for_update: bool = False
) -> Link | None:
    return await _one_link(session, _links.c.id == link_id, for_update=for_update)


async def links_of_subscription(session: AsyncSession, subscription_id: str) -> list[Link]:
    rows = (
        await session.execute(select(_links).where(_links.c.subscription_id == subscription_id))
    ).mappings()
    return [Link(**{name: row[name] for name in _LINK_FIELDS}) for row in rows]


async def insert_link(session: AsyncSession, link: Link) -> None:
    await session.execute(insert(_links).values({n: getattr(link, n) for n in _LINK_FIELDS}))


async def save_link(session: AsyncSession, link: Link) -> None:
    values = {n: getattr(link, n) for n in _LINK_FIELDS if n not in ("id", "channel", "store_key")}
    await session.execute(update(_links).where(_links.c.id == link.id).values(values))


async def due_checks(session: AsyncSession, *, now: datetime, limit: int) -> list[Link]:
    """Links whose store should have said something by now (missed notifications)."""
    statement = (
        select(_links)
        .where(_links.c.check_after <= now)
        .order_by(_links.c.check_after)
        .limit(limit)
    )
    rows = (await session.execute(statement)).mappings()
    return [Link(**{name: row[name] for name in _LINK_FIELDS}) for row in rows]


async def pending_acks(session: AsyncSession, *, limit: int) -> list[Link]:
    statement = select(_links).where(_links.c.ack_state == "pending").limit(limit)
    rows = (await session.execute(statement)).mappings()
    return [Link(**{name: row[name] for name in _LINK_FIELDS}) for row in rows]


# --- Google purchase tokens ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRow:
    token_hash: str
    token: str
    store_subscription_id: str
    product_id: str
    superseded_at: datetime | None


async def token_row(session: AsyncSession, token_hash: str) -> TokenRow | None:
    row = (await session.execute(select(_tokens).where(_tokens.c.token_hash == token_hash))).first()
    if row is None:
        return None
    return TokenRow(
        row.token_hash, row.token, row.store_subscription_id, row.product_id, row.superseded_at
    )


async def add_token(
    session: AsyncSession,
    *,
    token_hash: str,
    token: str,
    link_id: str,
    linked_hash: str | None,
    product_id: str,
    at: datetime,
) -> None:
    statement = (
        _dialect(session)
        .insert(_tokens)
        .values(
            token_hash=token_hash,
            token=token,
            store_subscription_id=link_id,
            linked_token_hash=linked_hash,
            product_id=product_id,
            superseded_at=None,
            created_at=at,
        )
        .on_conflict_do_nothing(index_elements=["token_hash"])
    )
    await session.execute(statement)


async def supersede_tokens(
    session: AsyncSession, link_id: str, *, current: str, at: datetime
) -> None:
    """Every other token of the chain is replaced by ``current`` (an upgrade, a resubscribe)."""
    await session.execute(
        update(_tokens)
        .where(
            _tokens.c.store_subscription_id == link_id,
            _tokens.c.token_hash != current,
            _tokens.c.superseded_at.is_(None),
        )
        .values(superseded_at=at)
    )


# --- transactions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TxnRow:
    transaction_id: str
    subscription_id: str
    invoice_id: str | None
    amount: int | None
    currency: str | None
    refunded_amount: int


async def transactions(
    session: AsyncSession, channel: str, ids: Sequence[str]
) -> dict[str, TxnRow]:
    if not ids:
        return {}
    rows = await session.execute(
        select(_txns).where(_txns.c.channel == channel, _txns.c.transaction_id.in_(list(ids)))
    )
    return {
        row.transaction_id: TxnRow(
            row.transaction_id,
            row.subscription_id,
            row.invoice_id,
            row.amount,
            row.currency,
            row.refunded_amount,
        )
        for row in rows
    }


async def insert_transaction(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Record a store transaction once; False if it was already recorded."""
    statement = (
        _dialect(session)
        .insert(_txns)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["channel", "transaction_id"])
        .returning(_txns.c.transaction_id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def set_refunded(
    session: AsyncSession, channel: str, transaction_id: str, amount: int, at: datetime | None
) -> None:
    await session.execute(
        update(_txns)
        .where(_txns.c.channel == channel, _txns.c.transaction_id == transaction_id)
        .values(refunded_amount=amount, refunded_at=at)
    )


# --- the inbox ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    pk: int
    channel: str
    notification_id: str
    type: str
    subtype: str | None
    environment: str
    store_key: str | None
    signed_at: datetime
    received_at: datetime
    status: str
    note: str | None
    attempts: int
    processed_at: datetime | None
    payload: dict[str, Any]


def _notice(row: Any) -> Notice:
    return Notice(
        row.pk,
        row.channel,
        row.notification_id,
        row.type,
        row.subtype,
        row.environment,
        row.store_key,
        row.signed_at,
        row.received_at,
        row.status,
        row.note,
        row.attempts,
        row.processed_at,
        dict(row.payload),
    )


async def store_notice(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert a notification unless its id is known; returns the new row's key (else None)."""
    statement = (
        _dialect(session)
        .insert(_inbox)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["channel", "notification_id"])
        .returning(_inbox.c.pk)
    )
    pk = (await session.execute(statement)).scalar_one_or_none()
    return None if pk is None else int(pk)


async def notice_by_id(session: AsyncSession, channel: str, notification_id: str) -> Notice | None:
    row = (
        await session.execute(
            select(_inbox).where(
                _inbox.c.channel == channel, _inbox.c.notification_id == notification_id
            )
        )
    ).first()
    return None if row is None else _notice(row)


async def notice(session: AsyncSession, pk: int, *, for_update: bool = False) -> Notice | None:
    statement = select(_inbox).where(_inbox.c.pk == pk)
    if for_update and is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    row = (await session.execute(statement)).first()
    return None if row is None else _notice(row)


async def finish_notice(
    session: AsyncSession, pk: int, *, status: str, note: str | None, at: datetime
) -> None:
    await session.execute(
        update(_inbox)
        .where(_inbox.c.pk == pk)
        .values(status=status, note=None if note is None else note[:200], processed_at=at)
    )


async def retry_later(session: AsyncSession, pk: int, *, note: str, at: datetime) -> None:
    """A notification that could not be processed now: back off (1, 2, 4, ... minutes, at most
    six hours) before the worker tries it again."""
    current = await notice(session, pk)
    attempts = (current.attempts if current else 0) + 1
    delay = timedelta(minutes=min(2 ** (attempts - 1), 360))
    await session.execute(
        update(_inbox)
        .where(_inbox.c.pk == pk)
        .values(attempts=attempts, next_attempt_at=at + delay, note=note[:200])
    )


async def due_notices(session: AsyncSession, *, now: datetime, limit: int) -> list[int]:
    rows = await session.execute(
        select(_inbox.c.pk)
        .where(
            _inbox.c.status == "pending",
            or_(_inbox.c.next_attempt_at.is_(None), _inbox.c.next_attempt_at <= now),
        )
        .order_by(_inbox.c.signed_at, _inbox.c.pk)
        .limit(limit)
    )
    return [int(pk) for pk in rows.scalars()]


async def search_notices(
    session: AsyncSession,
    *,
    channel: str | None,
    status: str | None,
    store_key: str | None,
    after: int | None,
    limit: int,
) -> list[Notice]:
    statement = select(_inbox).order_by(_inbox.c.pk).limit(limit)
    if channel is not None:
        statement = statement.where(_inbox.c.channel == channel)
    if status is not None:
        statement = statement.where(_inbox.c.status == status)
    if store_key is not None:
        statement = statement.where(_inbox.c.store_key == store_key)
    if after is not None:
        statement = statement.where(_inbox.c.pk > after)
    return [_notice(row) for row in await session.execute(statement)]


async def reopen_notice(session: AsyncSession, pk: int) -> None:
    await session.execute(
        update(_inbox)
        .where(_inbox.c.pk == pk)
        .values(status="pending", attempts=0, next_attempt_at=None, processed_at=None)
    )


# --- account tokens ------------------------------------------------------------------------------


async def account_token(session: AsyncSession, customer_id: str, *, at: datetime) -> str:
    """The customer's store account token (a UUID, as Apple's appAccountToken must be),
    created on first use; one per customer."""
    await session.execute(
        _dialect(session)
        .insert(_accounts)
        .values(token=str(uuid.uuid4()), customer_id=customer_id, created_at=at)
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    token = await session.scalar(
        select(_accounts.c.token).where(_accounts.c.customer_id == customer_id)
    )
    return str(token)


async def customer_for(session: AsyncSession, ref: str | None) -> str | None:
    """The customer an ``appAccountToken`` / ``obfuscatedExternalAccountId`` names: a token
    Tenure issued, or the customer's id."""
    if not ref:
        return None
    found: str | None = await session.scalar(
        select(_accounts.c.customer_id).where(_accounts.c.token == ref.lower())
    )
    if found is not None:
        return found
    if is_valid_id(ref, "cus"):
        exists: str | None = await session.scalar(select(Customer.id).where(Customer.id == ref))
        return exists
    return None
