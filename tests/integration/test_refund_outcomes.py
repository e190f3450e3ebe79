"""Refunds the provider refuses or does not answer: never a silent success.

A refused refund raises 402 ``refund_declined`` and keeps the failed credit note (the invoice's
refunded amount does not move); an unanswered one stays ``pending`` (the API answers 202) until
the worker asks the provider and records what it says, exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tenure.billing import service as invoices
from tenure.billing.models import CreditNote
from tenure.billing.records import CreditNoteStatus
from tenure.db.base import table_of
from tenure.db.engine import Database
from tenure.flows import accounts, refunds
from tenure.flows.assembly import assemble
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import subscribe
from tenure.payments.ports import ProviderUnavailable, RefundRequest, RefundResult
from tenure.payments.sandbox import SandboxProvider
from tests.integration.support import CATALOG


class RefusingRefunds(SandboxProvider):
    async def refund(self, request: RefundRequest) -> RefundResult:
        return RefundResult(False, message="the card account is closed")


class SilentOnce(SandboxProvider):
    """The first refund call reaches the provider, but its answer is lost."""

    lost = 0

    async def refund(self, request: RefundRequest) -> RefundResult:
        result = await super().refund(request)
        if SilentOnce.lost == 0:
            SilentOnce.lost += 1
            raise ProviderUnavailable("timed out after refunding")
        return result


async def _paid_invoice(runtime: Runtime) -> str:
    customer = await accounts.create_customer(
        runtime,
        external_id=f"refund-{datetime.now(UTC).timestamp()}",
        email="ada@example.com",
        market="SE",
        test_clock_id=None,
    )
    result = await subscribe(
        runtime,
        customer_id=customer.id,
        plan_id="premium_individual_monthly",
        payment_method="pm_card_visa",
        trial=False,
        actor="test",
    )
    assert result.invoice_id is not None
    return result.invoice_id


async def test_a_refused_refund_is_a_402_and_keeps_the_failed_note(database: Database) -> None:
    runtime = assemble(db=database, catalog=CATALOG, provider=RefusingRefunds(database))
    invoice_id = await _paid_invoice(runtime)
    with pytest.raises(refunds.RefundDeclined) as raised:
        await refunds.refund(
            runtime, invoice_id=invoice_id, amount=None, reason="goodwill", actor="test"
        )
    assert raised.value.http_status == 402
    assert "account is closed" in raised.value.message
    async with database.read() as session:
        invoice = await invoices.get(session, invoice_id)
        [note] = await invoices.credit_notes_of(session, invoice_id)
    assert note.status is CreditNoteStatus.FAILED
    assert (invoice.amount_refunded, invoice.credit_returned) == (0, 0)


async def test_an_unanswered_refund_is_pending_then_recorded_once(database: Database) -> None:
    SilentOnce.lost = 0
    runtime = assemble(db=database, catalog=CATALOG, provider=SilentOnce(database))
    invoice_id = await _paid_invoice(runtime)
    outcome = await refunds.refund(
        runtime, invoice_id=invoice_id, amount=2900, reason="goodwill", actor="test"
    )
    assert not outcome.settled and outcome.note.status is CreditNoteStatus.PENDING
    # A second refund while one is in flight is refused (no double refunds by racing).
    with pytest.raises(Exception, match="in progress"):
        await refunds.refund(
            runtime, invoice_id=invoice_id, amount=100, reason="again", actor="test"
        )
    table = table_of(CreditNote)
    async with database.transaction() as session:  # the lease runs out
        await session.execute(
            update(table).values(lease_until=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert await refunds.recover_refunds(runtime) == 1
    assert await refunds.recover_refunds(runtime) == 0
    async with database.read() as session:
        invoice = await invoices.get(session, invoice_id)
        [note] = await invoices.credit_notes_of(session, invoice_id)
    assert note.status is CreditNoteStatus.SUCCEEDED
    assert invoice.amount_refunded == 2900
