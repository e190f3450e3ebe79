"""A deterministic, in-process payment provider whose test cards behave as they are named.

It keeps its ledger in its own table and its own transactions, as a remote provider would: a
charge it made survives a crash of the caller, and ``lookup`` answers for any key it has seen.

Charges asked for at the same time (a renewal batch collects its invoices concurrently) are
written together, as a remote provider's ledger would absorb them: one read for the keys seen
before, one transaction for the new charges, and each caller gets its own answer after that
commit. The idempotency key is the ledger's primary key, so a repeated charge returns the first
result and a charge is recorded only once, whoever writes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import Database, is_postgres
from tenure.kernel.ids import new_id
from tenure.payments.models import SandboxCharge, SandboxRefund
from tenure.payments.ports import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
)


@dataclass(frozen=True, slots=True)
class _Behaviour:
    decline_code: str | None
    message: str | None
    retryable: bool = False


_SUCCEED: Final = _Behaviour(None, None)
_SOFT: Final = _Behaviour("insufficient_funds", "The card has insufficient funds.", True)
_UNKNOWN: Final = _Behaviour("invalid_payment_method", "Unknown sandbox payment method.")

TEST_CARDS: Final[dict[str, _Behaviour]] = {
    "pm_card_visa": _SUCCEED,
    "pm_card_mastercard": _SUCCEED,
    "pm_card_declined": _Behaviour("card_declined", "The card was declined."),
    "pm_card_insufficient_funds": _SOFT,
    "pm_card_expired": _Behaviour("expired_card", "The card has expired."),
    "pm_card_lost": _Behaviour("lost_card", "The card was reported lost."),
    "pm_card_fails_after_first": _SUCCEED,  # see _behaviour_for
    "pm_card_timeout_after_charge": _SUCCEED,  # charges, then the caller times out
    "pm_card_recovers_on_retry": _SUCCEED,  # see _behaviour_for
}


# Cards whose outcome depends on the customer's earlier charges (see _behaviour_for).
_HISTORY_CARDS: Final = frozenset({"pm_card_fails_after_first", "pm_card_recovers_on_retry"})
# Charges written to the ledger in one transaction, at most.
_BATCH: Final = 500
_charges = table_of(SandboxCharge)


class SandboxProvider:
    name = "sandbox"

    def __init__(self, database: Database) -> None:
        self._db = database
        self._queue: list[tuple[ChargeRequest, asyncio.Future[ChargeResult]]] = []
        self._writer: asyncio.Task[None] | None = None

    def accepts(self, payment_method: str) -> bool:
        return payment_method in TEST_CARDS

    def accepted_hint(self) -> str:
        return "the sandbox accepts " + ", ".join(TEST_CARDS)

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        async with self._db.read() as session:
            row = await session.get(SandboxCharge, idempotency_key)
        return None if row is None else _result(row)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Queue the charge for the next ledger write; concurrent calls share one.

        Every call still gets its own answer; the ledger's primary key (the idempotency key)
        keeps "charged only once" a database constraint.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ChargeResult] = loop.create_future()
        self._queue.append((request, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_queued())
        return await future

    async def _write_queued(self) -> None:
        """Write what is queued, a batch at a time, and answer each caller."""
        await asyncio.sleep(0)  # let the callers started in this turn of the loop queue too
        while self._queue:
            batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
            try:
                answers = await self._charge_batch([request for request, _ in batch])
            except Exception as error:
                answers = [error] * len(batch)
            except BaseException:  # cancelled: nobody will answer the callers left
                for _, future in [*batch, *self._queue]:
                    if not future.done():
                        future.set_exception(ProviderUnavailable("sandbox: stopped"))
                self._queue = []
                raise
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():  # the caller gave up waiting
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    async def _charge_batch(
        self, requests: Sequence[ChargeRequest]
    ) -> list[ChargeResult | Exception]:
        """One read for the keys seen before, one transaction for the new charges."""
        keys = sorted({request.idempotency_key for request in requests})
        async with self._db.read() as session:
            rows = await session.execute(
                select(_charges).where(_charges.c.idempotency_key.in_(keys))
            )
            known: dict[str, ChargeResult | Exception] = {
                row.idempotency_key: _result(row) for row in rows
            }
        fresh: dict[str, ChargeRequest] = {}
        for request in requests:
            if request.idempotency_key not in known:
                fresh.setdefault(request.idempotency_key, request)
        if fresh:
            known.update(await self._insert(list(fresh.values())))
        return [_answer(request, known[request.idempotency_key]) for request in requests]

    async def _insert(self, requests: list[ChargeRequest]) -> dict[str, ChargeResult | Exception]:
        """The new charges in one transaction; a key charged concurrently by another caller is
        left to that caller (this one cannot tell its outcome yet)."""
        now = datetime.now(UTC)
        written: dict[str, ChargeResult | Exception] = {}
        async with self._db.transaction() as session:
            # Cards whose behaviour depends on earlier charges are decided one at a time.
            plain = [r for r in requests if r.payment_method not in _HISTORY_CARDS]
            rows = [_row(r, TEST_CARDS.get(r.payment_method, _UNKNOWN), now) for r in plain]
            for request in requests:
                if request.payment_method in _HISTORY_CARDS:
                    row = _row(request, await self._behaviour_for(request, session), now)
                    await _insert_rows(session, [row], written)
            await _insert_rows(session, rows, written)
        for request in requests:
            written.setdefault(
                request.idempotency_key,
                ProviderUnavailable("concurrent charge with the same key"),
            )
        return written

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None:
        async with self._db.read() as session:
            row = await session.get(SandboxRefund, idempotency_key)
        return None if row is None else RefundResult(True, row.refund_id)

    async def refund(self, request: RefundRequest) -> RefundResult:
        existing = await self.lookup_refund(request.idempotency_key)
        if existing is not None:
            return existing
        async with self._db.transaction() as session:
            charge = await session.scalar(
                select(SandboxCharge).where(SandboxCharge.charge_id == request.charge_id)
            )
            if charge is None or charge.status != ChargeStatus.SUCCEEDED:
                return RefundResult(False, message="no successful charge to refund")
            # Like real providers, refuse to refund more than was captured.
            if await _refunded(session, charge.charge_id) + request.amount > charge.amount:
                return RefundResult(False, message="refund exceeds the captured amount")
            row = SandboxRefund(
                idempotency_key=request.idempotency_key,
                refund_id=new_id("ch").replace("ch_", "re_sbx_"),
                charge_id=charge.charge_id,
                amount=request.amount,
                created_at=datetime.now(UTC),
            )
            session.add(row)
        return RefundResult(True, row.refund_id)

    async def _behaviour_for(self, request: ChargeRequest, session: AsyncSession) -> _Behaviour:
        behaviour = TEST_CARDS.get(request.payment_method)
        if behaviour is None:
            return _UNKNOWN
        if request.payment_method == "pm_card_recovers_on_retry":
            # Pays the first invoice; a renewal's first attempt declines softly, its retry pays.
            first_try = request.idempotency_key.endswith(":attempt:1")
            return _SOFT if first_try and await _paid_before(session, request) else _SUCCEED
        if request.payment_method == "pm_card_fails_after_first":
            earlier = await session.scalar(
                select(func.count())
                .select_from(SandboxCharge)
                .where(
                    SandboxCharge.customer_id == request.customer_id,
                    SandboxCharge.payment_method == request.payment_method,
                    SandboxCharge.status == ChargeStatus.SUCCEEDED,
                )
            )
            return _SOFT if earlier else _SUCCEED
        return behaviour


async def _refunded(session: AsyncSession, charge_id: str) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(SandboxRefund.amount), 0)).where(
            SandboxRefund.charge_id == charge_id
        )
    )
    return int(total or 0)


async def _paid_before(session: AsyncSession, request: ChargeRequest) -> bool:
    earlier = await session.scalar(
        select(func.count())
        .select_from(SandboxCharge)
        .where(
            SandboxCharge.customer_id == request.customer_id,
            SandboxCharge.payment_method == request.payment_method,
            SandboxCharge.status == ChargeStatus.SUCCEEDED,
        )
    )
    return bool(earlier)


def _row(request: ChargeRequest, behaviour: _Behaviour, now: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": request.idempotency_key,
        "charge_id": new_id("ch").replace("ch_", "ch_sbx_"),
        "customer_id": request.customer_id,
        "amount": request.amount,
        "currency": request.currency,
        "payment_method": request.payment_method,
        "status": ChargeStatus.DECLINED if behaviour.decline_code else ChargeStatus.SUCCEEDED,
        "decline_code": behaviour.decline_code,
        "created_at": now,
    }


async def _insert_rows(
    session: AsyncSession, rows: list[dict[str, Any]], written: dict[str, ChargeResult | Exception]
) -> None:
    """Insert ledger rows, skipping keys already there; ``written`` gets each inserted row."""
    if not rows:
        return
    insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = insert(_charges).on_conflict_do_nothing().returning(_charges.c.idempotency_key)
    inserted = set((await session.execute(statement, rows)).scalars())
    by_key = {row["idempotency_key"]: row for row in rows}
    for key in inserted:
        written[key] = _result(SandboxCharge(**by_key[key]))


def _answer(request: ChargeRequest, known: ChargeResult | Exception) -> ChargeResult | Exception:
    if request.payment_method == "pm_card_timeout_after_charge" and not isinstance(
        known, Exception
    ):
        return ProviderUnavailable("sandbox: timed out after charging")
    return known


def _result(row: Any) -> ChargeResult:
    if row.status == ChargeStatus.SUCCEEDED:
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=row.charge_id)
    behaviour = TEST_CARDS.get(row.payment_method)
    retryable = row.decline_code == "insufficient_funds"
    message = behaviour.message if behaviour and behaviour.message else _SOFT.message
    return ChargeResult(
        ChargeStatus.DECLINED,
        charge_id=row.charge_id,
        decline_code=row.decline_code,
        message=message,
        retryable=retryable,
    )
