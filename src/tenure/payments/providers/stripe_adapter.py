"""Stripe behind the payment port, with the official ``stripe`` package (async, httpx).

Renewals are PaymentIntents created and confirmed in one call (``confirm=true``,
``off_session=true``, the customer and the saved payment method), with the attempt's
idempotency key as ``Idempotency-Key`` and in ``metadata[tenure_idempotency_key]``. A first
payment is on-session (no ``off_session``): if the card asks for 3-D Secure the result carries
the PaymentIntent's ``client_secret`` as ``next_action``.

Unknown outcomes (timeout, connection reset, 409, 429, 5xx) raise ``ProviderUnavailable``;
``lookup`` then retrieves the PaymentIntent the journal recorded, or finds it by listing the
customer's PaymentIntents (read-after-write consistent) and, failing that, by Search on the
metadata key (which may lag). Vendor objects never leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, cast

import stripe
import structlog

from tenure.db.engine import Database
from tenure.kernel.errors import InvalidRequest
from tenure.payments.declines import classify_stripe, retryable
from tenure.payments.journal import Entry, Journal
from tenure.payments.ports import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    DeclineClass,
    NextAction,
    PaymentPending,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    StoredCard,
)
from tenure.payments.providers.common import bounded_timeout, retry_after

log = structlog.get_logger(__name__)

NAME: Final = "stripe"
KEY_FIELD: Final = "tenure_idempotency_key"
DEFAULT_API_BASE: Final = "https://api.stripe.com"
# Stripe's magic test PaymentMethods start with pm_card_; real ones are pm_ + 24 characters.
TOKEN_PREFIX: Final = "pm_"


@dataclass(frozen=True, slots=True)
class StripeConfig:
    secret_key: str
    api_base: str = DEFAULT_API_BASE
    timeout: float = 10.0

    def __repr__(self) -> str:  # never print the key
        return f"StripeConfig(api_base={self.api_base!r}, timeout={self.timeout})"


class StripeProvider:
    name = NAME

    def __init__(self, database: Database, config: StripeConfig) -> None:
        self.journal = Journal(database)
        self._http = stripe.HTTPXClient(timeout=bounded_timeout(config.timeout))
        self._client = stripe.StripeClient(
            config.secret_key,
            base_addresses={"api": config.api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=0,  # Tenure decides: an unknown outcome is looked up first
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    def accepts(self, payment_method: str) -> bool:
        return payment_method.startswith(TOKEN_PREFIX) and len(payment_method) <= 64

    def accepted_hint(self) -> str:
        return (
            "Stripe PaymentMethod ids (pm_…) created with Stripe.js; in test mode also "
            "pm_card_visa, pm_card_chargeDeclined, pm_card_authenticationRequired, …"
        )

    # --- payment methods -----------------------------------------------------------------

    async def _customer(self, customer_id: str, given: str | None = None) -> str:
        known = await self.journal.customer(customer_id, NAME)
        if known is not None:
            return known
        if given is None:
            created = await self._call(
                self._client.v1.customers.create_async(
                    {"metadata": {"tenure_customer": customer_id}},
                    # Two first uses at once (or a crash and a retry) create one customer.
                    {"idempotency_key": f"tenure:customer:{customer_id}"},
                )
            )
            given = created.id
        return await self.journal.remember_customer(customer_id, NAME, given)

    async def store_method(
        self, *, customer_id: str, token: str, provider_customer: str | None
    ) -> StoredCard:
        customer = await self._customer(customer_id, provider_customer)
        try:
            method = await self._client.v1.payment_methods.attach_async(
                token, {"customer": customer}
            )
        except stripe.InvalidRequestError as error:
            raise InvalidRequest(
                f"Stripe refused payment method {token!r}: {_code(error) or 'invalid_request'}",
                code="payment_method_refused",
            ) from None
        except stripe.StripeError as error:
            raise _unavailable(error) from None
        card = method.card
        if card is None:
            raise InvalidRequest(
                f"{token!r} is not a card; Tenure stores cards", code="payment_method_refused"
            )
        return StoredCard(
            provider=NAME,
            token=method.id,
            provider_customer=customer,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    # --- charges -------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        customer = await self.journal.customer(request.customer_id, NAME)
        if customer is None:  # a method stored before the provider was configured
            customer = (
                await self.store_method(
                    customer_id=request.customer_id,
                    token=request.payment_method,
                    provider_customer=None,
                )
            ).provider_customer
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "customer": customer,
            "payment_method": request.payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "description": request.description[:1000],
            "metadata": {
                KEY_FIELD: request.idempotency_key,
                "tenure_customer": request.customer_id,
            },
        }
        if request.on_session:
            if request.return_url:
                params["return_url"] = request.return_url
        else:
            params["off_session"] = True
        entry = await self.journal.begin(
            key=request.idempotency_key,
            kind="charge",
            provider=NAME,
            provider_customer=customer,
            amount=request.amount,
            currency=request.currency,
            request={k: v for k, v in params.items() if k != "metadata"},
        )
        if entry.reference is not None and entry.status != "sent":
            return await self._retrieve(entry)  # stored outcome: ask Stripe, charge nothing
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as error:
            failed = error.error.payment_intent if error.error else None
            result = _declined(error, failed)
            await self.journal.finish(
                request.idempotency_key,
                "charge",
                status=_journal_status(result),
                reference=None if failed is None else failed.id,
            )
            return result
        except stripe.InvalidRequestError as error:
            # The request can never succeed as it is (the method was detached, belongs to
            # another customer, ...): a hard decline, never a card decline from the issuer.
            log.error("stripe.invalid_request", code=_code(error), status=error.http_status)
            if error.http_status in (400, 404) and not isinstance(error, stripe.IdempotencyError):
                await self.journal.finish(request.idempotency_key, "charge", status="declined")
                return ChargeResult(
                    ChargeStatus.DECLINED,
                    decline_code="invalid_request",
                    message=f"Stripe refused the request ({_code(error) or 'invalid'})",
                    decline_class=DeclineClass.HARD,
                    provider=NAME,
                    raw={"code": _code(error) or ""},
                )
            raise _unavailable(error) from None
        except stripe.StripeError as error:
            raise _unavailable(error) from None
        result = _from_intent(intent)
        await self.journal.finish(
            request.idempotency_key, "charge", status=_journal_status(result), reference=intent.id
        )
        return result

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        entry = await self.journal.get(idempotency_key, "charge")
        if entry is None or entry.provider != NAME:
            return None  # never sent from here
        if entry.reference is not None:
            return await self._retrieve(entry)
        intent = await self._find(entry)
        if intent is None:
            return None
        await self.journal.finish(idempotency_key, "charge", status="sent", reference=intent.id)
        return _from_intent(intent)

    async def _retrieve(self, entry: Entry) -> ChargeResult:
        assert entry.reference is not None
        intent = await self._call(self._client.v1.payment_intents.retrieve_async(entry.reference))
        return _from_intent(intent)

    async def _find(self, entry: Entry) -> stripe.PaymentIntent | None:
        """The PaymentIntent carrying this key in its metadata, if Stripe has one."""
        since = int((entry.created_at - timedelta(minutes=10)).timestamp())
        if entry.provider_customer:
            page = await self._call(
                self._client.v1.payment_intents.list_async(
                    {"customer": entry.provider_customer, "created": {"gte": since}, "limit": 100}
                )
            )
            for intent in page.data:
                if _metadata(intent).get(KEY_FIELD) == entry.idempotency_key:
                    return cast("stripe.PaymentIntent", intent)
        key = entry.idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        found = await self._call(
            self._client.v1.payment_intents.search_async(
                {"query": f"metadata['{KEY_FIELD}']:'{key}'", "limit": 1}
            )
        )
        return cast("stripe.PaymentIntent", found.data[0]) if found.data else None

    # --- refunds -------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundResult:
        target = (
            {"payment_intent": request.charge_id}
            if request.charge_id.startswith("pi_")
            else {"charge": request.charge_id}
        )
        params: dict[str, Any] = {
            **target,
            "amount": request.amount,
            "reason": "requested_by_customer",
            "metadata": {KEY_FIELD: request.idempotency_key},
        }
        await self.journal.begin(
            key=request.idempotency_key,
            kind="refund",
            provider=NAME,
            provider_customer=None,
            amount=request.amount,
            currency=request.currency,
            request={k: v for k, v in params.items() if k != "metadata"},
        )
        try:
            refund = await self._client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.InvalidRequestError as error:
            if isinstance(error, stripe.IdempotencyError):
                raise _unavailable(error) from None
            await self.journal.finish(request.idempotency_key, "refund", status="failed")
            return RefundResult(False, message=f"Stripe refused the refund: {_code(error)}")
        except stripe.StripeError as error:
            raise _unavailable(error) from None
        result = _from_refund(refund)
        await self.journal.finish(
            request.idempotency_key,
            "refund",
            status="succeeded" if result.succeeded else "failed",
            reference=refund.id,
        )
        return result

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None:
        entry = await self.journal.get(idempotency_key, "refund")
        if entry is None or entry.provider != NAME:
            return None
        if entry.reference is not None:
            refund = await self._call(self._client.v1.refunds.retrieve_async(entry.reference))
            return _from_refund(refund)
        target = {
            key: value
            for key, value in entry.request.items()
            if key in ("payment_intent", "charge")
        }
        page = await self._call(self._client.v1.refunds.list_async({**target, "limit": 100}))  # type: ignore[arg-type]
        for refund in page.data:
            if _metadata(refund).get(KEY_FIELD) == idempotency_key:
                return _from_refund(refund)
        return None

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except stripe.StripeError as error:
            raise _unavailable(error) from None


def _metadata(obj: Any) -> dict[str, Any]:
    metadata = getattr(obj, "metadata", None)
    return {} if metadata is None else dict(metadata.to_dict())


def _code(error: stripe.StripeError) -> str | None:
    return error.code or (error.error.code if error.error else None)


def _unavailable(error: stripe.StripeError) -> ProviderUnavailable:
    """No decision: the outcome is unknown or the request did not run (never a decline)."""
    status = error.http_status
    wait = retry_after(dict(error.headers or {}))
    kind = type(error).__name__
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        log.error("stripe.credentials_refused", status=status)  # the key is never logged
    else:
        log.warning("stripe.unavailable", error=kind, status=status, retry_after=wait)
    return ProviderUnavailable(f"stripe: {kind} (HTTP {status})", retry_after=wait)


def _declined(error: stripe.CardError, intent: stripe.PaymentIntent | None) -> ChargeResult:
    details = error.error
    code = details.code if details else error.code
    decline_code = details.decline_code if details else None
    advice = details.advice_code if details else None
    raw = {
        key: value
        for key, value in {
            "code": code,
            "decline_code": decline_code,
            "advice_code": advice,
            "network_decline_code": details.network_decline_code if details else None,
            "network_advice_code": details.network_advice_code if details else None,
        }.items()
        if value
    }
    klass = classify_stripe(code, decline_code, advice)
    return ChargeResult(
        ChargeStatus.DECLINED,
        charge_id=None if intent is None else intent.id,
        decline_code=decline_code or code or "card_declined",
        message=(details.message if details else None) or "The card was declined.",
        retryable=retryable(klass),
        decline_class=klass,
        next_action=_next_action(intent) if klass is DeclineClass.ACTION_REQUIRED else None,
        provider=NAME,
        raw=raw,
    )


def _next_action(intent: stripe.PaymentIntent | None) -> NextAction | None:
    if intent is None or not intent.client_secret:
        return None
    action = intent.next_action
    return NextAction(
        provider=NAME,
        type=action.type if action is not None else "confirm_on_session",
        reference=intent.id,
        client_secret=intent.client_secret,
    )


def _from_intent(intent: stripe.PaymentIntent) -> ChargeResult:
    status = intent.status
    if status == "succeeded":
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=intent.id, provider=NAME)
    if status == "requires_action":
        return ChargeResult(
            ChargeStatus.DECLINED,
            charge_id=intent.id,
            decline_code="authentication_required",
            message="The customer must authenticate this payment (3-D Secure).",
            decline_class=DeclineClass.ACTION_REQUIRED,
            next_action=_next_action(intent),
            provider=NAME,
            raw={"status": status},
        )
    if status in ("processing", "requires_capture", "requires_confirmation"):
        raise PaymentPending(f"stripe: PaymentIntent {intent.id} is {status}")
    error = intent.last_payment_error
    # Stripe leaves out fields that are not set (advice_code, decline_code, ...).
    code = getattr(error, "code", None) if error else None
    decline_code = getattr(error, "decline_code", None) if error else None
    advice = getattr(error, "advice_code", None) if error else None
    if status == "canceled" and error is None:
        code = "canceled"
    klass = classify_stripe(code, decline_code, advice)
    return ChargeResult(
        ChargeStatus.DECLINED,
        charge_id=intent.id,
        decline_code=decline_code or code or "card_declined",
        message=(getattr(error, "message", None) if error else None) or "The card was declined.",
        retryable=retryable(klass),
        decline_class=klass,
        next_action=_next_action(intent) if klass is DeclineClass.ACTION_REQUIRED else None,
        provider=NAME,
        raw={k: v for k, v in {"code": code, "decline_code": decline_code}.items() if v},
    )


def _journal_status(result: ChargeResult) -> str:
    if result.status is ChargeStatus.SUCCEEDED:
        return "succeeded"
    if result.decline_class is DeclineClass.ACTION_REQUIRED:
        return "action_required"
    return "declined"


def _from_refund(refund: stripe.Refund) -> RefundResult:
    status = refund.status
    if status in ("succeeded", "pending", "requires_action"):
        return RefundResult(True, refund.id, settled=status == "succeeded")
    return RefundResult(False, refund.id, message=f"Stripe refund {status}")


def result_of_event(intent: dict[str, Any]) -> tuple[str | None, ChargeResult | None]:
    """(Tenure's idempotency key, the port's result) for a PaymentIntent in a webhook; the
    result is None while Stripe is still ``processing``. Classified exactly as a direct answer
    (:func:`_from_intent`), so a webhook and a call never disagree on a decline's class."""
    obj = stripe.PaymentIntent.construct_from(dict(intent), None)
    key = _metadata(obj).get(KEY_FIELD)
    try:
        result = _from_intent(obj)
    except PaymentPending:
        result = None
    return (None if key is None else str(key)), result
