"""Adyen behind the payment port: the Checkout API (v71) over httpx.

The official ``Adyen`` package is synchronous only (requests/pycurl/urllib), so an async service
would hold a thread per charge in flight; Tenure speaks the documented JSON API instead (see
docs/decisions/0002-payment-provider-clients.md).

Renewals: ``POST /payments`` with ``shopperReference``, ``paymentMethod.storedPaymentMethodId``,
``recurringProcessingModel: Subscription``, ``shopperInteraction: ContAuth`` and the attempt's
idempotency key as ``Idempotency-Key``. A refusal is HTTP 200 with ``resultCode: Refused``.

Adyen has no API to read a payment back by its reference. An unknown outcome is resolved, in
order, by (1) an ``AUTHORISATION`` notification already in the inbox for this reference, then
(2) replaying the journaled request with the same ``Idempotency-Key``: Adyen answers a key it
has seen (for at least 31 days) with the stored response, so this never charges twice; if the
first request never reached Adyen, the replay is the charge itself, which is what recovery
would send next with the same key anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import structlog
from sqlalchemy import select

from tenure.db.engine import Database
from tenure.kernel.errors import InvalidRequest
from tenure.payments.declines import ADYEN_PROVIDER_ERRORS, classify_adyen, retryable
from tenure.payments.journal import Journal
from tenure.payments.models import ProviderEvent
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

NAME: Final = "adyen"
DEFAULT_CHECKOUT_URL: Final = "https://checkout-test.adyen.com/v71"
MAX_KEY: Final = 64  # Adyen's Idempotency-Key limit
MAX_REFERENCE: Final = 80
ACTION_RESULTS: Final = frozenset({"RedirectShopper", "IdentifyShopper", "ChallengeShopper"})
PENDING_RESULTS: Final = frozenset({"Received", "Pending"})


@dataclass(frozen=True, slots=True)
class AdyenConfig:
    api_key: str
    merchant_account: str
    checkout_url: str = DEFAULT_CHECKOUT_URL
    timeout: float = 10.0
    # Required by the v71 schema even for API-only calls; used by redirect authentications.
    return_url: str = "https://localhost/tenure/adyen/return"

    def __repr__(self) -> str:  # never print the key
        return f"AdyenConfig(checkout_url={self.checkout_url!r}, timeout={self.timeout})"


def adyen_key(key: str) -> str:
    """Tenure's key as Adyen takes it (≤64 characters; longer keys are hashed, stably)."""
    return key if len(key) <= MAX_KEY else hashlib.sha256(key.encode()).hexdigest()


def reference_for(key: str) -> str:
    return key if len(key) <= MAX_REFERENCE else hashlib.sha256(key.encode()).hexdigest()


class AdyenProvider:
    name = NAME

    def __init__(
        self,
        database: Database,
        config: AdyenConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = database
        self.journal = Journal(database)
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.checkout_url.rstrip("/") + "/",
            timeout=bounded_timeout(config.timeout),
            headers={"x-api-key": config.api_key, "content-type": "application/json"},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def accepts(self, payment_method: str) -> bool:
        return 0 < len(payment_method) <= 64 and payment_method.replace("_", "").isalnum()

    def accepted_hint(self) -> str:
        return "Adyen storedPaymentMethodId values (for example 8415000000000001)"

    async def _send(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Idempotency-Key": adyen_key(key)} if key else {}
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            log.warning("adyen.unavailable", error=type(error).__name__, path=path)
            raise ProviderUnavailable(f"adyen: {type(error).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            wait = retry_after(dict(response.headers))
            log.warning("adyen.unavailable", status=status, retry_after=wait)
            raise ProviderUnavailable(f"adyen: HTTP {status}", retry_after=wait)
        if status in (401, 403):
            log.error("adyen.credentials_refused", status=status)  # the key is never logged
            raise ProviderUnavailable(f"adyen: HTTP {status} (check TENURE_ADYEN_API_KEY)")
        if status == 422 and _error_code(response) == "704":
            # The same Idempotency-Key is still being processed: ask again later.
            raise ProviderUnavailable("adyen: request with this key in progress")
        return response

    # --- payment methods -----------------------------------------------------------------

    async def store_method(
        self, *, customer_id: str, token: str, provider_customer: str | None
    ) -> StoredCard:
        shopper = provider_customer or await self.journal.customer(customer_id, NAME) or customer_id
        response = await self._send(
            "GET",
            "storedPaymentMethods",
            params={"shopperReference": shopper, "merchantAccount": self.config.merchant_account},
        )
        stored = (
            response.json().get("storedPaymentMethods", []) if response.status_code == 200 else []
        )
        found = next((m for m in stored if m.get("id") == token), None)
        if found is None:
            raise InvalidRequest(
                f"Adyen holds no stored payment method {token!r} for this shopper",
                code="payment_method_refused",
            )
        shopper = await self.journal.remember_customer(customer_id, NAME, shopper)
        year = int(found.get("expiryYear") or 0)
        return StoredCard(
            provider=NAME,
            token=token,
            provider_customer=shopper,
            brand=str(found.get("brand") or "unknown"),
            last4=str(found.get("lastFour") or "0000"),
            exp_month=int(found.get("expiryMonth") or 1),
            exp_year=year + 2000 if year < 100 else year,
        )

    # --- charges -------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        shopper = await self.journal.customer(request.customer_id, NAME) or request.customer_id
        body: dict[str, Any] = {
            "amount": {"value": request.amount, "currency": request.currency.upper()},
            "reference": reference_for(request.idempotency_key),
            "merchantAccount": self.config.merchant_account,
            "shopperReference": shopper,
            "paymentMethod": {"type": "scheme", "storedPaymentMethodId": request.payment_method},
            "recurringProcessingModel": "Subscription",
            "shopperInteraction": "Ecommerce" if request.on_session else "ContAuth",
            "returnUrl": request.return_url or self.config.return_url,
            # One value per invoice, reused on every retry of it (scheme retry accounting).
            "merchantOrderReference": request.idempotency_key.split(":attempt:")[0][:80],
        }
        entry = await self.journal.begin(
            key=request.idempotency_key,
            kind="charge",
            provider=NAME,
            provider_customer=shopper,
            amount=request.amount,
            currency=request.currency,
            request=body,
        )
        return await self._pay(request.idempotency_key, entry.request)

    async def _pay(self, key: str, body: dict[str, Any]) -> ChargeResult:
        response = await self._send("POST", "payments", key=key, json=body)
        if response.status_code in (400, 404, 422):
            code = _error_code(response)
            log.error("adyen.invalid_request", status=response.status_code, error_code=code)
            await self.journal.finish(key, "charge", status="declined")
            return ChargeResult(
                ChargeStatus.DECLINED,
                decline_code="invalid_request",
                message=f"Adyen refused the request (errorCode {code})",
                decline_class=DeclineClass.HARD,
                provider=NAME,
                raw={"errorCode": code or ""},
            )
        payload = response.json()
        result = _from_payment(payload)
        status = "pending" if result is None else _journal_status(result)
        await self.journal.finish(
            key, "charge", status=status, reference=payload.get("pspReference")
        )
        if result is None:
            raise PaymentPending(f"adyen: {payload.get('resultCode')}; waiting for AUTHORISATION")
        return result

    async def complete_authentication(
        self, idempotency_key: str, details: Mapping[str, str]
    ) -> ChargeResult | None:
        """Forward the shopper's 3-D Secure result (``onAdditionalDetails``) to
        ``/payments/details``; the answer is the payment's outcome (Authorised, Refused, ...)."""
        entry = await self.journal.get(idempotency_key, "charge")
        if entry is None or entry.provider != NAME:
            return None
        response = await self._send(
            "POST",
            "payments/details",
            key=f"{idempotency_key}:details",
            json={"details": dict(details)},
        )
        if response.status_code in (400, 404, 422):
            code = _error_code(response)
            log.warning("adyen.details_refused", status=response.status_code, error_code=code)
            return ChargeResult(
                ChargeStatus.DECLINED,
                charge_id=entry.reference,
                decline_code="authentication_failed",
                message=f"Adyen refused the authentication result (errorCode {code})",
                decline_class=DeclineClass.HARD,
                provider=NAME,
                raw={"errorCode": code or ""},
            )
        payload = response.json()
        payload.setdefault("pspReference", entry.reference)
        result = _from_payment(payload)
        if result is None:
            raise PaymentPending(f"adyen: {payload.get('resultCode')} after authentication")
        await self.journal.finish(
            idempotency_key, "charge", status=_journal_status(result), reference=entry.reference
        )
        return result

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        entry = await self.journal.get(idempotency_key, "charge")
        if entry is None or entry.provider != NAME:
            return None
        notified = await self._notification("AUTHORISATION", reference_for(idempotency_key))
        if notified is not None:
            return _from_notification(notified, entry.reference)
        return await self._pay(idempotency_key, entry.request)

    async def _notification(
        self, event_code: str, merchant_reference: str
    ) -> dict[str, Any] | None:
        async with self.db.read() as session:
            row = await session.scalar(
                select(ProviderEvent.payload)
                .where(
                    ProviderEvent.provider == NAME,
                    ProviderEvent.type == event_code,
                    ProviderEvent.object_id == merchant_reference,
                )
                .order_by(ProviderEvent.occurred_at.desc())
                .limit(1)
            )
        return None if row is None else dict(row)

    # --- refunds -------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundResult:
        body: dict[str, Any] = {
            "merchantAccount": self.config.merchant_account,
            "amount": {"value": request.amount, "currency": request.currency.upper()},
            "reference": reference_for(request.idempotency_key),
        }
        entry = await self.journal.begin(
            key=request.idempotency_key,
            kind="refund",
            provider=NAME,
            provider_customer=None,
            amount=request.amount,
            currency=request.currency,
            request={"payment": request.charge_id, "body": body},
        )
        return await self._refund(request.idempotency_key, entry.request)

    async def _refund(self, key: str, stored: dict[str, Any]) -> RefundResult:
        payment = str(stored["payment"])
        response = await self._send(
            "POST", f"payments/{payment}/refunds", key=key, json=stored["body"]
        )
        if response.status_code >= 400:
            await self.journal.finish(key, "refund", status="failed")
            return RefundResult(
                False, message=f"Adyen refused the refund (errorCode {_error_code(response)})"
            )
        payload = response.json()
        reference = payload.get("pspReference")
        await self.journal.finish(key, "refund", status="pending", reference=reference)
        # ``status`` is always "received": the REFUND notification confirms it later.
        return RefundResult(True, reference, settled=False)

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None:
        entry = await self.journal.get(idempotency_key, "refund")
        if entry is None or entry.provider != NAME:
            return None
        notified = await self._notification("REFUND", reference_for(idempotency_key))
        if notified is not None:
            success = str(notified.get("success")) == "true"
            return RefundResult(
                success,
                str(notified.get("pspReference") or entry.reference or ""),
                message=None if success else str(notified.get("reason") or "refund failed"),
            )
        return await self._refund(idempotency_key, entry.request)


def _error_code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("errorCode")
    except ValueError:
        return None
    return None if code is None else str(code)


def _from_payment(payload: dict[str, Any]) -> ChargeResult | None:
    """The port's result for a ``/payments`` response; None while Adyen has not decided."""
    result = str(payload.get("resultCode") or "")
    psp = payload.get("pspReference")
    if result == "Authorised":
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=psp, provider=NAME)
    if result in PENDING_RESULTS:
        return None
    if result in ACTION_RESULTS:
        return ChargeResult(
            ChargeStatus.DECLINED,
            charge_id=psp,
            decline_code="authentication_required",
            message="The customer must authenticate this payment (3-D Secure).",
            decline_class=DeclineClass.ACTION_REQUIRED,
            next_action=NextAction(
                provider=NAME,
                type=str((payload.get("action") or {}).get("type") or result),
                reference=str(psp or ""),
                action=payload.get("action"),
            ),
            provider=NAME,
            raw={"resultCode": result},
        )
    additional = payload.get("additionalData") or {}
    refusal = str(payload.get("refusalReasonCode") or "")
    raw = {
        key: str(value)
        for key, value in {
            "resultCode": result,
            "refusalReasonCode": refusal,
            "refusalReason": payload.get("refusalReason"),
            "merchantAdviceCode": additional.get("merchantAdviceCode"),
            "refusalReasonRaw": additional.get("refusalReasonRaw"),
        }.items()
        if value
    }
    if result == "Error" or refusal in ADYEN_PROVIDER_ERRORS:
        # No decision from the issuer; replaying the key returns the same answer, so the
        # attempt fails softly and the retry ladder tries again with a new key.
        code, klass = "processing_error", DeclineClass.SOFT
    elif result == "Refused":
        code, klass = classify_adyen(
            refusal,
            merchant_advice=additional.get("merchantAdviceCode"),
            inferred_reason=additional.get("inferredRefusalReason"),
        )
    else:  # Cancelled, PartiallyAuthorised, anything new: not paid, do not reuse blindly
        code, klass = (result.lower() or "unknown_result"), DeclineClass.HARD
    return ChargeResult(
        ChargeStatus.DECLINED,
        charge_id=psp,
        decline_code=code,
        message=str(payload.get("refusalReason") or "The payment was refused."),
        retryable=retryable(klass),
        decline_class=klass,
        provider=NAME,
        raw=raw,
    )


def _from_notification(item: dict[str, Any], reference: str | None) -> ChargeResult:
    psp = str(item.get("pspReference") or reference or "")
    if str(item.get("success")) == "true":
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=psp, provider=NAME)
    return ChargeResult(
        ChargeStatus.DECLINED,
        charge_id=psp,
        decline_code="refused",
        message=str(item.get("reason") or "The payment was refused."),
        retryable=True,
        decline_class=DeclineClass.SOFT,
        provider=NAME,
        raw={"eventCode": "AUTHORISATION", "success": "false"},
    )


def _journal_status(result: ChargeResult) -> str:
    if result.status is ChargeStatus.SUCCEEDED:
        return "succeeded"
    if result.decline_class is DeclineClass.ACTION_REQUIRED:
        return "action_required"
    return "declined"


def result_of_notification(item: dict[str, Any]) -> ChargeResult:
    """The port's result for an ``AUTHORISATION`` notification (its ``merchantReference`` is
    the attempt's reference, :func:`reference_for` its idempotency key)."""
    return _from_notification(item, None)
