"""A customer's payment methods: attach, list, detach, make default."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from tenure.api.deps import RuntimeDep, actor_of, check_id
from tenure.flows import payment_methods as flow
from tenure.flows.collect import Outcome
from tenure.flows.subscribe import describe_payment
from tenure.payments.methods import refuse_card_numbers


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


def _with_retry(body: dict[str, Any], retry: Outcome | None) -> dict[str, Any]:
    body["invoice_retry"] = (
        None if retry is None else {"invoice": retry.invoice_id, **(describe_payment(retry) or {})}
    )
    return body


class PaymentMethodController(Controller):
    path = "/v1/customers/{customer_id:str}/payment_methods"
    tags = ["payment methods"]

    @post(
        "/",
        status_code=201,
        summary="Attach a payment method (a provider token, never a card number)",
        before_request=no_card_numbers,
    )
    async def attach(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        data: JSONBody[AttachPaymentMethod],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
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
        return _with_retry(result.method, result.retry)

    @get("/", summary="List a customer's payment methods")
    async def list_(self, customer_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
        check_id(customer_id, "cus", "customer")
        data = await flow.list_for(runtime, customer_id)
        return {"object": "list", "data": data, "has_more": False, "next": None}

    @post(
        "/{method_id:str}/default",
        status_code=200,
        summary="Make a payment method the default",
        before_request=no_card_numbers,
    )
    async def make_default(
        self,
        request: Request[Any, Any, Any],
        customer_id: FromPath[str],
        method_id: FromPath[str],
        runtime: RuntimeDep,
    ) -> dict[str, Any]:
        check_id(customer_id, "cus", "customer")
        check_id(method_id, "pm", "payment method")
        result = await flow.set_default(
            runtime, customer_id=customer_id, method_id=method_id, actor=actor_of(request)
        )
        return _with_retry(result.method, result.retry)

    @delete("/{method_id:str}", status_code=200, summary="Detach a payment method")
    async def detach(
        self, customer_id: FromPath[str], method_id: FromPath[str], runtime: RuntimeDep
    ) -> dict[str, Any]:
        check_id(customer_id, "cus", "customer")
        check_id(method_id, "pm", "payment method")
        body = await flow.detach(runtime, customer_id=customer_id, method_id=method_id)
        body["detached"] = True
        return body
