"""Invoices, plans and events."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from tenure.api import views
from tenure.api.deps import RuntimeDep, actor_of, check_id, page, page_limit
from tenure.api.routes.payment_methods import no_card_numbers
from tenure.api.schemas import PayInvoice
from tenure.billing import service as invoices
from tenure.billing.models import Invoice
from tenure.db.base import table_of
from tenure.events.models import OutboxEvent
from tenure.events.sequencer import sequence_pending
from tenure.flows import manage
from tenure.kernel.errors import InvalidRequest, PaymentRequired


async def _invoice_view(runtime: RuntimeDep, invoice_id: FromPath[str]) -> dict[str, Any]:
    async with runtime.db.read() as session:
        row = await invoices.get(session, invoice_id)
        lines = await invoices.lines_of(session, [invoice_id])
    return views.invoice(row, lines[invoice_id])


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


@get("/v1/plans", tags=["catalog"], summary="Plans sold in a market, with prices")
async def list_plans(runtime: RuntimeDep, market: FromQuery[str | None] = None) -> dict[str, Any]:
    if market is None:
        raise InvalidRequest(
            "pass ?market=SE (a market code from the catalog)", code="market_required"
        )
    selected = runtime.catalog.market(market.upper())
    plans = sorted(runtime.catalog.plans_in(selected), key=lambda plan: plan.id)
    return {
        "object": "list",
        "market": selected.code,
        "currency": selected.currency,
        "data": [views.plan(runtime.catalog, plan, selected) for plan in plans],
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
    # Number what has committed so a reader sees its own writes; cheap when nothing is pending.
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
