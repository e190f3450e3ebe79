"""A deterministic, in-process payment provider whose test cards behave as they are named.

It keeps its ledger in its own table and its own transactions, as a remote provider would: a
charge it made survives a crash of the caller, and ``lookup`` answers for any key it has seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.engine import Database
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


class SandboxProvider:
    name = "sandbox"

    def __init__(self, database: Database) -> None:
        self._db = database

    def accepts(self, payment_method: str) -> bool:
        return payment_method in TEST_CARDS

    def accepted_hint(self) -> str:
        return "the sandbox accepts " + ", ".join(TEST_CARDS)

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        async with self._db.read() as session:
            row = await session.get(SandboxCharge, idempotency_key)
        return None if row is None else _result(row)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        existing = await self.lookup(request.idempotency_key)
        if existing is not None:
            return existing  # the provider's own idempotency: same key, same outcome
        async with self._db.transaction() as session:
            behaviour = await self._behaviour_for(request, session)
            row = SandboxCharge(
                idempotency_key=request.idempotency_key,
                charge_id=new_id("ch").replace("ch_", "ch_sbx_"),
                customer_id=request.customer_id,
                amount=request.amount,
                currency=request.currency,
                payment_method=request.payment_method,
                status=ChargeStatus.DECLINED if behaviour.decline_code else ChargeStatus.SUCCEEDED,
                decline_code=behaviour.decline_code,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise ProviderUnavailable("concurrent charge with the same key") from None
        if request.payment_method == "pm_card_timeout_after_charge":
            raise ProviderUnavailable("sandbox: timed out after charging")
        return _result(row)

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
            return _Behaviour("invalid_payment_method", "Unknown sandbox payment method.")
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


def _result(row: SandboxCharge) -> ChargeResult:
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
