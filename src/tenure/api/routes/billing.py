"""Invoices, plans and events."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from tenure.api import views
from tenure.api.deps import RuntimeDep, actor_of, check_id, page, page_limit
from tenure.api.routes.payment_methods import no_card_numbers
from tenure.api.schemas import PayInvoice, RefundInvoice
from tenure.billing import service as invoices
from tenure.billing.models import Invoice
from tenure.customers import service as customers
from tenure.db.base import table_of
from tenure.events.models import OutboxEvent
from tenure.events.sequencer import has_pending, sequence_pending
from tenure.flows import manage, refunds
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import InvalidRequest, PaymentRequired
from tenure.subscriptions import offers


async def _invoice_view(runtime: Runtime, invoice_id: str) -> dict[str, Any]:
    async with runtime.db.read() as session:
        row = await invoices.get(session, invoice_id)
        lines = await invoices.lines_of(session, [invoice_id])
        notes = await invoices.credit_notes_of(session, invoice_id)
    body = views.invoice(row, lines[invoice_id])
    body["credit_notes"] = [views.credit_note(note) for note in notes]
    return body


class InvoiceController(Controller):
    path = "/v1/invoices"
    tags = ["invoices"]

    @get("/", summary="List invoices")
    async def list_(
        self,
        runtime: RuntimeDep,
        customer: FromQuery[str | None] = None,
        subscription: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        size = page_limit(limit)
        table = table_of(Invoice)
        query = select(table).order_by(table.c.id).limit(size + 1)
        if customer is not None:
            query = query.where(table.c.customer_id == customer)
        if subscription is not None:
            query = query.where(table.c.subscription_id == subscription)
        if status is not None:
            query = query.where(table.c.status == status)
        if starting_after is not None:
            query = query.where(table.c.id > starting_after)
        async with runtime.db.read() as session:
            rows = [dict(row) for row in (await session.execute(query)).mappings().all()]
            lines = await invoices.lines_of(session, [row["id"] for row in rows])
        return page([views.invoice(row, lines[row["id"]]) for row in rows], size)

    @get("/{invoice_id:str}", summary="Get an invoice")
    async def read(self, invoice_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(invoice_id, "in", "invoice")
        return await _invoice_view(runtime, invoice_id)

    @post(
        "/{invoice_id:str}/pay",
        status_code=200,
        summary="Pay an open invoice now",
        before_request=no_card_numbers,
    )
    async def pay(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[PayInvoice | None] = None,
    ) -> dict[str, Any]:
        """Answers 402 with the decline code when the charge is declined."""
        check_id(invoice_id, "in", "invoice")
        result = await manage.pay_invoice(
            runtime,
            invoice_id=invoice_id,
            payment_method=data.payment_method if data else None,
            actor=actor_of(request),
        )
        outcome = result.outcome
        if outcome is not None and outcome.result is not None and outcome.result.decline_code:
            raise PaymentRequired(
                outcome.result.message or "the payment was declined",
                code=outcome.result.decline_code,
                invoice=invoice_id,
                retryable=outcome.result.retryable,
            )
        return await _invoice_view(runtime, invoice_id)

    @post("/{invoice_id:str}/refund", status_code=201, summary="Refund a paid invoice")
    async def refund(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        data: JSONBody[RefundInvoice],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        """Full (no amount) or partial; never more than was paid and not yet refunded."""
        check_id(invoice_id, "in", "invoice")
        note = await refunds.refund(
            runtime,
            invoice_id=invoice_id,
            amount=data.amount,
            reason=data.reason,
            actor=actor_of(request),
        )
        return views.credit_note(note)


@get("/v1/plans", tags=["catalog"], summary="Plans sold in a market, with prices")
async def list_plans(
    runtime: RuntimeDep,
    market: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """With ``customer``, each plan also says which offers that customer may still use."""
    if market is None and customer is None:
        raise InvalidRequest(
            "pass ?market=SE (a market code from the catalog) or ?customer=", code="market_required"
        )
    used = None
    if customer is not None:
        check_id(customer, "cus", "customer")
        async with runtime.db.read() as session:
            found = await customers.get(session, customer)
            used = await offers.used_by(session, customer)
        market = market or found.market
    assert market is not None
    selected = runtime.catalog.market(market.upper())
    plans = sorted(runtime.catalog.plans_in(selected), key=lambda plan: plan.id)
    return {
        "object": "list",
        "market": selected.code,
        "currency": selected.currency,
        "customer": customer,
        "data": [views.plan(runtime.catalog, plan, selected, used) for plan in plans],
        "has_more": False,
        "next": None,
    }


@get("/v1/events", tags=["events"], summary="Events in order, paged by cursor")
async def list_events(
    runtime: RuntimeDep,
    after: FromQuery[int | None] = None,
    limit: FromQuery[int | None] = None,
    type: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
    subscription: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """``after`` is the ``next`` of the previous page (an event ``position``); start without it."""
    size = page_limit(limit)
    if after is not None and not 0 <= after < 2**63:
        raise InvalidRequest(
            "after must be an event position (0 or more) from a previous page",
            code="invalid_cursor",
        )
    # Number what has committed so a reader sees its own writes; cheap when nothing is pending.
    async with runtime.db.read() as session:
        waiting = await has_pending(session)
    if waiting:
        async with runtime.db.transaction() as session:
            await sequence_pending(session)
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.position.is_not(None))
        .order_by(OutboxEvent.position)
        .limit(size + 1)
    )
    if after is not None:
        query = query.where(OutboxEvent.position > after)
    if type is not None:
        query = query.where(OutboxEvent.type == type)
    if customer is not None:
        query = query.where(OutboxEvent.customer_id == customer)
    if subscription is not None:
        query = query.where(OutboxEvent.subscription_id == subscription)
    async with runtime.db.read() as session:
        rows = list((await session.scalars(query)).all())
    has_more = len(rows) > size
    rows = rows[:size]
    return {
        "object": "list",
        "data": [views.event(row) for row in rows],
        "has_more": has_more,
        "next": rows[-1].position if rows else after,
    }
