"""A customer's payment methods (cards as the provider describes them; never a number).

``flows.payment_methods.view`` renders a method as a dict (it is also the event payload);
:func:`payment_method_of` checks that dict against :class:`PaymentMethod`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from tenure.api.resources.base import Resource, extend
from tenure.api.resources.subscriptions import payment_outcome_of
from tenure.flows.collect import Outcome


class Card(Resource):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentMethod(Resource):
    id: str
    object: Literal["payment_method"]
    customer: str
    type: Literal["card"]
    card: Card
    default: bool
    created: str


class InvoiceRetry(Resource):
    """The charge made at once when a new default method meets an invoice in dunning."""

    invoice: str
    status: str | None  # null while the outcome is unknown
    decline_code: str | None
    message: str | None


class PaymentMethodAttached(PaymentMethod):
    invoice_retry: InvoiceRetry | None  # null when nothing was retried


class PaymentMethodDetached(PaymentMethod):
    detached: bool


class PaymentMethodList(Resource):
    object: Literal["list"]
    data: list[PaymentMethod]
    has_more: bool
    next: str | None


def payment_method_of(body: Mapping[str, Any]) -> PaymentMethod:
    return msgspec.convert(body, PaymentMethod)


def attached_of(body: Mapping[str, Any], retry: Outcome | None) -> PaymentMethodAttached:
    invoice_retry = None
    if retry is not None:
        outcome = payment_outcome_of(retry)
        invoice_retry = InvoiceRetry(
            invoice=retry.invoice_id,
            status=outcome.status if outcome else None,
            decline_code=outcome.decline_code if outcome else None,
            message=outcome.message if outcome else None,
        )
    return extend(payment_method_of(body), PaymentMethodAttached, invoice_retry=invoice_retry)


def detached_of(body: Mapping[str, Any]) -> PaymentMethodDetached:
    return extend(payment_method_of(body), PaymentMethodDetached, detached=True)


def payment_method_list_of(bodies: Sequence[Mapping[str, Any]]) -> PaymentMethodList:
    return PaymentMethodList(
        object="list", data=[payment_method_of(body) for body in bodies], has_more=False, next=None
    )
