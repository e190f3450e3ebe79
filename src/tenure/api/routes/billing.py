"""Invoices, plans and events."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from tenure.api.deps import RuntimeDep, acting, actor_of, check_id, one_of, page, page_limit
from tenure.api.openapi import problems
from tenure.api.resources.catalog import PlanList, plan_list_of
from tenure.api.resources.events import EventList, event_list_of
from tenure.api.resources.invoices import (
    CreditNote,
    InvoiceDetail,
    InvoiceList,
    PaymentAttemptList,
    credit_note_of,
    invoice_detail_of,
    invoice_of,
    payment_attempt_of,
)
from tenure.api.resources.subscriptions import next_action_of
from tenure.api.routes.payment_methods import no_card_numbers
from tenure.api.schemas import PayInvoice, RefundInvoice, UpdateMetadata, VoidInvoice
from tenure.billing import disputes
from tenure.billing import service as invoices
from tenure.billing.records import InvoiceStatus
from tenure.customers import service as customers
from tenure.events import catalog
from tenure.events.models import OutboxEvent
from tenure.events.sequencer import has_pending, sequence_pending
from tenure.flows import manage, refunds, winback
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import BadRequest, InvalidRequest, PaymentRequired
from tenure.payments import attempts
from tenure.subscriptions import offers


async def _invoice_detail(runtime: Runtime, invoice_id: str) -> InvoiceDetail:
    async with runtime.db.read() as session:
        row = await invoices.get(session, invoice_id)
        await invoices.with_lines(session, [row])
        notes = await invoices.credit_notes_of(session, invoice_id)
        found = (await disputes.for_invoices(session, [invoice_id])).get(invoice_id, [])
    return invoice_detail_of(row, notes, found)


def _status_filter(status: str | None) -> InvoiceStatus | None:
    if status is None:
        return None
    try:
        return InvoiceStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in InvoiceStatus)
        raise BadRequest(
            f"status must be one of {allowed}, not {status!r}",
            code="invalid_filter",
            field="status",
        ) from None


class InvoiceController(Controller):
    path = "/v1/invoices"
    tags = ["invoices"]

    @get("/", summary="List invoices", responses=problems((422, "invalid_limit")))
    async def list_(
        self,
        runtime: RuntimeDep,
        customer: FromQuery[str | None] = None,
        subscription: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        starting_after: FromQuery[str | None] = None,
    ) -> InvoiceList:
        size = page_limit(limit)
        wanted = _status_filter(status)
        async with runtime.db.read() as session:
            rows = await invoices.search(
                session,
                customer_id=customer,
                subscription_id=subscription,
                status=wanted,
                starting_after=starting_after,
                limit=size + 1,
            )
        data, has_more, after = page([invoice_of(row) for row in rows], size)
        return InvoiceList(object="list", data=data, has_more=has_more, next=after)

    @post(
        "/{invoice_id:str}",
        status_code=200,
        summary="Update an invoice's metadata",
        responses=problems((404, "invoice_not_found"), (422, "invalid_metadata")),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        data: JSONBody[UpdateMetadata],
        runtime: RuntimeDep,
    ) -> InvoiceDetail:
        """``metadata`` is merged into what is stored; a key set to "" is removed. Any status:
        a paid or closed invoice can still carry your references."""
        check_id(invoice_id, "in", "invoice")
        await manage.update_invoice(
            runtime, invoice_id=invoice_id, metadata=data.metadata, actor=actor_of(request)
        )
        return await _invoice_detail(runtime, invoice_id)

    @get(
        "/{invoice_id:str}",
        summary="Get an invoice, with its lines and credit notes",
        responses=problems((404, "invoice_not_found")),
    )
    async def read(self, invoice_id: FromPath[str], runtime: RuntimeDep) -> InvoiceDetail:
        check_id(invoice_id, "in", "invoice")
        return await _invoice_detail(runtime, invoice_id)

    @post(
        "/{invoice_id:str}/pay",
        status_code=200,
        summary="Pay an open invoice now",
        before_request=no_card_numbers,
        responses=problems(
            (402, "authentication_required"),
            (404, "invoice_not_found"),
            (409, "invoice_not_open payment_in_progress"),
            (422, "payment_method_required unknown_payment_method card_number_not_accepted"),
        ),
    )
    async def pay(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[PayInvoice | None] = None,
    ) -> InvoiceDetail:
        """Answers 402 with the decline code when the charge is declined. When the bank asks
        the customer to authenticate (3-D Secure), 402 ``authentication_required`` carries the
        ``next_action`` for the client; once the customer has authenticated, pay again (or let
        the provider's webhook do it): the waiting payment is settled, never charged twice."""
        check_id(invoice_id, "in", "invoice")
        result = await manage.pay_invoice(
            runtime,
            invoice_id=invoice_id,
            payment_method=data.payment_method if data else None,
            actor=actor_of(request),
            authentication_details=data.authentication_details if data else None,
        )
        outcome = result.outcome
        if outcome is not None and outcome.result is not None and outcome.result.decline_code:
            action = next_action_of(outcome)
            extra = {} if action is None else {"next_action": msgspec.to_builtins(action)}
            raise PaymentRequired(
                outcome.result.message or "the payment was declined",
                code=outcome.result.decline_code,
                invoice=invoice_id,
                retryable=outcome.result.retryable,
                **extra,
            )
        return await _invoice_detail(runtime, invoice_id)

    @post(
        "/{invoice_id:str}/refund",
        status_code=201,
        summary="Refund a paid invoice's cash",
        responses={
            202: ResponseSpec(
                CreditNote,
                description="The refund is recorded and the provider has not answered yet; "
                "the worker finishes it (the credit note is `pending`).",
            ),
            **problems(
                (402, "refund_declined"),
                (404, "invoice_not_found"),
                (409, "invoice_not_paid refund_in_progress nothing_to_refund invoice_disputed"),
                (422, "refund_reason_required refund_exceeds_paid reason_required"),
            ),
        },
    )
    async def refund(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        data: JSONBody[RefundInvoice],
        runtime: RuntimeDep,
    ) -> Response[CreditNote]:
        """Full (no amount) or partial; never more than the cash paid and not yet refunded
        (422 ``refund_exceeds_paid``, nothing recorded). 201 when the provider confirmed, 202
        while its answer is pending, 402 ``refund_declined`` when it refused (the failed
        credit note is kept). When the last of the cash is refunded, the credit the invoice
        used goes back to the balance (``credit_returned``)."""
        check_id(invoice_id, "in", "invoice")
        acting(request, data.reason, "a refund")
        outcome = await refunds.refund(
            runtime,
            invoice_id=invoice_id,
            amount=data.amount,
            reason=data.reason,
            actor=actor_of(request),
        )
        return Response(credit_note_of(outcome.note), status_code=201 if outcome.settled else 202)

    @post(
        "/{invoice_id:str}/void",
        status_code=200,
        summary="Void an open invoice",
        responses=problems(
            (404, "invoice_not_found"), (409, "invoice_not_open payment_in_progress")
        ),
    )
    async def void(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        runtime: RuntimeDep,
        data: JSONBody[VoidInvoice | None] = None,
    ) -> InvoiceDetail:
        """``reason`` is required when a person's key voids. Nothing is owed any more; the
        credit it used goes back to the balance. A first
        invoice ends its incomplete subscription; an unpaid renewal is forgiven (the
        subscription leaves dunning and is active again); a plan-change charge is dropped."""
        check_id(invoice_id, "in", "invoice")
        acting(request, data.reason if data else None, "voiding an invoice")
        await manage.void_invoice(runtime, invoice_id=invoice_id, actor=actor_of(request))
        return await _invoice_detail(runtime, invoice_id)

    @get(
        "/{invoice_id:str}/payments",
        summary="The payment attempts of an invoice",
        responses=problems((404, "invoice_not_found")),
    )
    async def payments(self, invoice_id: FromPath[str], runtime: RuntimeDep) -> PaymentAttemptList:
        """Every attempt, oldest first: what it charged, its outcome, its decline code."""
        check_id(invoice_id, "in", "invoice")
        async with runtime.db.read() as session:
            await invoices.get(session, invoice_id)
            found = await attempts.for_invoice(session, invoice_id)
        return PaymentAttemptList(
            object="list",
            data=[payment_attempt_of(attempt) for attempt in found],
            has_more=False,
            next=None,
        )


@get(
    "/v1/plans",
    tags=["catalog"],
    summary="Plans sold in a market, with prices",
    responses=problems((404, "customer_not_found"), (422, "market_required unknown_market")),
)
async def list_plans(
    runtime: RuntimeDep,
    market: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
) -> PlanList:
    """With ``customer``, each plan also says which offers that customer may still use."""
    if market is None and customer is None:
        raise InvalidRequest(
            "pass ?market=SE (a market code from the catalog) or ?customer=", code="market_required"
        )
    used = None
    comeback: dict[str, tuple[str, str, int, int]] = {}
    if customer is not None:
        check_id(customer, "cus", "customer")
        async with runtime.db.read() as session:
            found = await customers.get(session, customer)
            used = await offers.used_by(session, customer)
            now = await runtime.now_for(session, found.test_clock_id)
            if market is None or market.upper() == found.market:
                quoted = await winback.quotes(runtime, session, customer, found.market, now)
                comeback = {
                    plan: (q.offer.id, q.offer.description, q.price, q.offer.periods)
                    for plan, q in quoted.items()
                }
        market = market or found.market
    assert market is not None
    selected = runtime.catalog.market(market.upper())
    return plan_list_of(runtime.catalog, selected, customer, used, comeback)


@get(
    "/v1/events",
    tags=["events"],
    summary="Events in order, paged by cursor",
    responses=problems((422, "invalid_limit invalid_cursor")),
)
async def list_events(
    runtime: RuntimeDep,
    after: FromQuery[int | None] = None,
    limit: FromQuery[int | None] = None,
    type: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
    subscription: FromQuery[str | None] = None,
) -> EventList:
    """``after`` is the ``next`` of the previous page (an event ``position``); start without it."""
    size = page_limit(limit)
    one_of(type, catalog.BY_TYPE, "type")
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
    return event_list_of(rows[:size], has_more=len(rows) > size, after=after)
