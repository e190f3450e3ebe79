"""Data-subject requests: export everything held about a customer; erase their personal data
(flows/privacy.py says what that is and what stays)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from tenure.access import audit
from tenure.api.deps import RuntimeDep, acting, actor_of, check_id
from tenure.api.openapi import problems
from tenure.api.resources.access import AuditEntry, audit_entry_of
from tenure.api.resources.accounts import CustomerDetail
from tenure.api.resources.base import Resource, at, ts
from tenure.api.resources.entitlements import Grant, grant_of
from tenure.api.resources.events import Event, event_of
from tenure.api.resources.invoices import InvoiceDetail, invoice_detail_of
from tenure.api.resources.payment_methods import PaymentMethod, payment_method_of
from tenure.api.resources.subscriptions import (
    HistoryEntry,
    Subscription,
    history_of,
    subscription_of,
)
from tenure.api.routes.accounts import CustomerController
from tenure.api.schemas import Reason
from tenure.billing import service as invoices
from tenure.customers.models import Customer as CustomerRow
from tenure.entitlements import grants
from tenure.events.models import OutboxEvent
from tenure.flows import payment_methods as method_flows
from tenure.flows import privacy
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription as SubscriptionRow
from tenure.subscriptions.models import SubscriptionHistory

EXPORT_LIMIT = 10_000  # rows per kind; a person's history is far smaller


class CustomerExport(Resource):
    """Everything Tenure holds about one customer, as of ``generated``."""

    object: Literal["customer_export"]
    generated: str
    customer: CustomerDetail
    erased_at: str | None
    subscriptions: list[Subscription]
    subscription_history: list[HistoryEntry]
    invoices: list[InvoiceDetail]  # with lines and credit notes
    payment_methods: list[PaymentMethod]
    grants: list[Grant]
    events: list[Event]
    audit_log: list[AuditEntry]


class CustomerErased(Resource):
    id: str
    object: Literal["customer"]
    erased: bool
    erased_at: str


class EraseCustomer(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason | None = None  # required when a person (a role key) erases


@get(
    "/v1/customers/{customer_id:str}/export",
    tags=["customers"],
    summary="Everything Tenure holds about a customer (data-subject access)",
    responses=problems((404, "customer_not_found")),
)
async def export_customer(customer_id: FromPath[str], runtime: RuntimeDep) -> CustomerExport:
    check_id(customer_id, "cus", "customer")
    detail = await CustomerController._detail(runtime, customer_id)
    methods = await method_flows.list_for(runtime, customer_id)
    async with runtime.db.read() as session:
        subscriptions = await subs.load(
            session,
            SubscriptionRow.customer_id == customer_id,
            order_by=[SubscriptionRow.id],
            limit=EXPORT_LIMIT,
        )
        history = (
            await session.scalars(
                select(SubscriptionHistory)
                .where(SubscriptionHistory.subscription_id.in_([s.id for s in subscriptions]))
                .order_by(SubscriptionHistory.pk)
                .limit(EXPORT_LIMIT)
            )
        ).all()
        found = await invoices.search(session, customer_id=customer_id, limit=EXPORT_LIMIT)
        await invoices.with_lines(session, found)
        details = [
            invoice_detail_of(invoice, await invoices.credit_notes_of(session, invoice.id))
            for invoice in found
        ]
        granted = await grants.list_for(session, customer_id)
        events = (
            await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.customer_id == customer_id)
                .order_by(OutboxEvent.pk)
                .limit(EXPORT_LIMIT)
            )
        ).all()
        trail = await audit.search(
            session, audit.AuditFilter(customer=customer_id), limit=EXPORT_LIMIT
        )
        erased_at = await session.scalar(
            select(CustomerRow.erased_at).where(CustomerRow.id == customer_id)
        )
    return CustomerExport(
        object="customer_export",
        generated=at(datetime.now(UTC)),
        customer=detail,
        erased_at=ts(erased_at),
        subscriptions=[subscription_of(sub) for sub in subscriptions],
        subscription_history=history_of(history).data,
        invoices=details,
        payment_methods=[payment_method_of(method) for method in methods],
        grants=[grant_of(grant) for grant in granted],
        events=[event_of(event) for event in events],
        audit_log=[audit_entry_of(entry) for entry in trail],
    )


@post(
    "/v1/customers/{customer_id:str}/erase",
    status_code=200,
    tags=["customers"],
    summary="Erase a customer's personal data (financial records stay)",
    responses=problems(
        (404, "customer_not_found"),
        (409, "customer_has_live_subscription"),
        (422, "reason_required"),
    ),
)
async def erase_customer(
    request: Request[Any, Any, Any],
    customer_id: FromPath[str],
    runtime: RuntimeDep,
    data: JSONBody[EraseCustomer | None] = None,
) -> CustomerErased:
    """Pseudonymizes email and external_id, removes metadata (customer, subscriptions,
    invoices), household address hashes, grant reasons and the same fields in earlier event
    payloads; emits ``customer.erased``. Refused with 409 ``customer_has_live_subscription``
    while a subscription is live: cancel it now first. Idempotent."""
    check_id(customer_id, "cus", "customer")
    acting(request, data.reason if data else None, "erasing a customer")
    customer = await privacy.erase(runtime, customer_id=customer_id, actor=actor_of(request))
    assert customer.erased_at is not None
    return CustomerErased(
        id=customer.id, object="customer", erased=True, erased_at=at(customer.erased_at)
    )
