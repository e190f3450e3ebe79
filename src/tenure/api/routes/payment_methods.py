"""A customer's payment methods: attach, list, detach, make default."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from tenure.api.deps import RuntimeDep, actor_of, check_id
from tenure.api.openapi import problems
from tenure.api.resources.payment_methods import (
    PaymentMethodAttached,
    PaymentMethodDetached,
    PaymentMethodList,
    attached_of,
    detached_of,
    payment_method_list_of,
)
from tenure.flows import payment_methods as flow
from tenure.payments.methods import refuse_card_numbers

_NOT_FOUND = (404, "customer_not_found payment_method_not_found")


class AttachPaymentMethod(msgspec.Struct, forbid_unknown_fields=True):
    payment_method: str
    default: bool = False
    # The customer at the provider when the token is one you already hold: Stripe ``cus_…`` or
    # Adyen ``shopperReference``. Omitted: Tenure creates (Stripe) or uses its own id (Adyen).
    provider_customer: str | None = msgspec.field(default=None)


async def no_card_numbers(request: Request[Any, Any, Any]) -> None:
    """Runs before the body is parsed, so a card number in any field (known or not) is refused
    with its own code instead of a generic validation error."""
    refuse_card_numbers((await request.body()).decode("utf-8", "replace"))


class PaymentMethodController(Controller):
    path = "/v1/customers/{customer_id:str}/payment_methods"
    tags = ["payment methods"]

    @post(
        "/",
        status_code=201,
        summary="Attach a payment method (a provider token, never a card number)",
        before_request=no_card_numbers,
        responses=problems(
            (404, "customer_not_found"),
            (422, "unknown_payment_method payment_method_required card_number_not_accepted"),
        ),
    )
    async def attach(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        data: JSONBody[AttachPaymentMethod],
        runtime: RuntimeDep,
    ) -> PaymentMethodAttached:
        """With ``"default": true`` it becomes the method renewals charge; a subscription in
        ``past_due`` or ``on_hold`` is retried with it at once (see ``invoice_retry``)."""
        check_id(customer_id, "cus", "customer")
        result = await flow.attach(
            runtime,
            customer_id=customer_id,
            token=data.payment_method,
            default=data.default,
            actor=actor_of(request),
            provider_customer=data.provider_customer,
        )
        return attached_of(result.method, result.retry)

    @get(
        "/",
        summary="List a customer's payment methods",
        responses=problems((404, "customer_not_found")),
    )
    async def list_(self, customer_id: FromPath[str], runtime: RuntimeDep) -> PaymentMethodList:
        check_id(customer_id, "cus", "customer")
        return payment_method_list_of(await flow.list_for(runtime, customer_id))

    @post(
        "/{method_id:str}/default",
        status_code=200,
        summary="Make a payment method the default",
        before_request=no_card_numbers,
        responses=problems(_NOT_FOUND),
    )
    async def make_default(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        method_id: FromPath[str],
        runtime: RuntimeDep,
    ) -> PaymentMethodAttached:
        check_id(customer_id, "cus", "customer")
        check_id(method_id, "pm", "payment method")
        result = await flow.set_default(
            runtime, customer_id=customer_id, method_id=method_id, actor=actor_of(request)
        )
        return attached_of(result.method, result.retry)

    @delete(
        "/{method_id:str}",
        status_code=200,
        summary="Detach a payment method",
        responses=problems(_NOT_FOUND, (409, "payment_method_in_use")),
    )
    async def detach(
        self, customer_id: FromPath[str], method_id: FromPath[str], runtime: RuntimeDep
    ) -> PaymentMethodDetached:
        check_id(customer_id, "cus", "customer")
        check_id(method_id, "pm", "payment method")
        return detached_of(await flow.detach(runtime, customer_id=customer_id, method_id=method_id))
