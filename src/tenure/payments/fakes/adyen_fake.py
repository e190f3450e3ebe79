"""A fake Adyen Checkout API (v71) that checks every request and response against Adyen's
published OpenAPI schemas (CheckoutService-v71, Webhooks-v1).

A request that breaks the schema answers 422 as Adyen does, and is recorded in
``violations``; a response or notification this fake builds that breaks the schema is recorded
there too, so a test can assert both sides kept to Adyen's shapes.

Stored payment methods (any shopper holds them): ``8415000000000001`` and the sandbox's
``pm_card_visa`` are authorised; ``stored_refused_<code>`` is refused with that
``refusalReasonCode`` (``stored_refused_2_mac03`` adds merchant advice code 03);
``stored_challenge`` needs 3-D Secure (``ChallengeShopper`` with an ``action``; then
``/payments/details`` with ``threeDSResult`` ``<pspReference>:Y`` authorises it, ``:N`` refuses);
``stored_pending`` answers ``Received``; ``stored_error`` answers ``Error``; the sandbox's
decline names map to their Adyen refusals. Faults as for the Stripe fake (``/_fake/faults``).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final

import httpx
from jsonschema import Draft202012Validator

from tenure.payments.fakes.server import Request, Response
from tenure.payments.signatures import adyen_hmac

SCHEMAS: Final[dict[str, Any]] = json.loads(
    resources.files("tenure.payments.fakes").joinpath("data/adyen_schemas.json").read_text()
)
REFUSALS: Final[dict[str, str]] = {
    "2": "Refused",
    "3": "Referral",
    "5": "Blocked Card",
    "6": "Expired Card",
    "7": "Invalid Amount",
    "8": "Invalid Card Number",
    "9": "Issuer Unavailable",
    "10": "Not supported",
    "11": "3D Not Authenticated",
    "12": "Not enough balance",
    "14": "Acquirer Fraud",
    "15": "Cancelled",
    "20": "FRAUD",
    "22": "FRAUD-CANCELLED",
    "23": "Transaction Not Permitted",
    "24": "CVC Declined",
    "25": "Restricted Card",
    "26": "Revocation Of Auth",
    "27": "Declined Non Generic",
    "28": "Withdrawal amount exceeded",
    "29": "Withdrawal count exceeded",
    "31": "Issuer Suspected Fraud",
    "32": "AVS Declined",
    "38": "Authentication required",
    "46": "Transaction blocked by Adyen to prevent excessive retry fees",
    "4": "Acquirer Error",
    "21": "Not Submitted",
}
SANDBOX_NAMES: Final[dict[str, str]] = {
    "pm_card_declined": "stored_refused_2_mac03",
    "pm_card_insufficient_funds": "stored_refused_12",
    "pm_card_expired": "stored_refused_6",
    "pm_card_lost": "stored_refused_5",
    "pm_card_processing": "stored_pending",
}
SANDBOX_PASSING: Final = frozenset(
    {
        "pm_card_visa", "pm_card_mastercard", "pm_card_recovers_on_retry",
        "pm_card_fails_after_first", "pm_card_timeout_after_charge",
    }
)  # fmt: skip
_REFUSED = re.compile(r"^stored_refused_(\d+)(?:_mac(\d\d))?$")


def validator(group: str, name: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS[group]}}
    return Draft202012Validator(schema)


def _psp() -> str:
    return "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(16))


@dataclass
class AdyenFake:
    api_key: str = "adyen_test_key"
    merchant_account: str = "TenureTestECOM"
    hmac_keys: list[str] = field(default_factory=lambda: ["00112233445566778899AABBCCDDEEFF" * 2])
    webhook_url: str | None = None
    auto_notify: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)
    replays: dict[str, tuple[Any, int, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # pspReference -> record
    refunds: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    webhooks_sent: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._validators = {
            name: validator("checkout", name)
            for name in (
                "PaymentRequest",
                "PaymentResponse",
                "PaymentRefundRequest",
                "PaymentRefundResponse",
                "PaymentDetailsRequest",
                "PaymentDetailsResponse",
                "ListStoredPaymentMethodsResponse",
                "ServiceError",
            )
        }

    def _check(self, name: str, instance: Any, where: str) -> list[str]:
        errors = [
            f"{where} {name}: {e.json_path}: {e.message}"
            for e in self._validators[name].iter_errors(instance)
        ]
        with self.lock:
            self.violations.extend(errors)
        return errors

    def _answer(self, status: int, name: str, body: dict[str, Any], **headers: str) -> Response:
        self._check(name, body, "response")
        return Response(status, body, headers)

    def _service_error(self, status: int, code: str, message: str, kind: str) -> Response:
        body = {"status": status, "errorCode": code, "message": message, "errorType": kind}
        return self._answer(status, "ServiceError", body)

    # --- entry point -----------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        if request.path.startswith("/_fake/"):
            return self._control(request)
        with self.lock:
            self.requests.append((request.method, request.path, request.header("idempotency-key")))
        if request.header("x-api-key") != self.api_key:
            return self._service_error(
                401, "000", "HTTP Status Response - Unauthorized", "security"
            )
        fault = self._fault(request)
        refused = self._refused_by_fault(fault)
        if refused is not None:
            return refused
        return self._route(request, fault)

    def _refused_by_fault(self, fault: dict[str, Any] | None) -> Response | None:
        if fault is not None and fault["fault"] == "rate_limit":
            return Response(
                429,
                {
                    "status": 429,
                    "errorCode": "429",
                    "message": "Too Many Requests",
                    "errorType": "validation",
                },
                {"Retry-After": str(fault.get("retry_after", 1))},
            )
        if fault is not None and fault["fault"] == "server_error":
            return self._service_error(500, "905", "Payment details are not supported", "internal")
        return None

    def _route(self, request: Request, fault: dict[str, Any] | None) -> Response:
        parts = request.path.strip("/").split("/")
        if parts[1:] == ["storedPaymentMethods"] and request.method == "GET":
            return self._stored(request.query)
        if request.method != "POST":
            return self._service_error(404, "000", "not found", "validation")
        body = request.json()
        key = request.header("idempotency-key")
        with self.lock:
            stored = self.replays.get(key or "")
            if stored is not None:
                if stored[0] != body:
                    return self._service_error(
                        422, "704", "request already processed or in progress", "validation"
                    )
                return Response(stored[1], stored[2], {"Idempotent-Replayed": "true"})
            if parts[1:] == ["payments"]:
                response = self._payment(body, fault)
            elif parts[1:] == ["payments", "details"]:
                response = self._details(body)
            elif len(parts) == 4 and parts[1] == "payments" and parts[3] == "refunds":
                response = self._refund(parts[2], body)
            else:
                return self._service_error(404, "000", "not found", "validation")
            if key and response.status < 500:
                self.replays[key] = (body, response.status, response.body)
        if response.status < 300 and self.auto_notify:
            threading.Thread(
                target=self._notify_outcome, args=(response.body, parts), daemon=True
            ).start()
        return response

    def _fault(self, request: Request) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault.get("path", "/v71/payments") == request.path and fault["times"] > 0:
                    fault["times"] -= 1
                    return fault
        return None

    # --- payments ------------------------------------------------------------------------

    def _payment(self, body: dict[str, Any], fault: dict[str, Any] | None) -> Response:
        if errors := self._check("PaymentRequest", body, "request"):
            return self._service_error(422, "702", errors[0][:200], "validation")
        if body.get("merchantAccount") != self.merchant_account:
            return self._service_error(403, "901", "Invalid Merchant Account", "security")
        token = str((body.get("paymentMethod") or {}).get("storedPaymentMethodId") or "")
        psp = _psp()
        result: dict[str, Any] = {"pspReference": psp, "merchantReference": body["reference"]}
        outcome = self._outcome_of(token, body)
        result.update(outcome)
        self.payments[psp] = {
            "pspReference": psp,
            "reference": body["reference"],
            "token": token,
            "shopperReference": body.get("shopperReference"),
            "amount": body["amount"],
            "resultCode": result["resultCode"],
            "interaction": body.get("shopperInteraction"),
        }
        delay = (
            float(fault.get("delay", 2.0))
            if fault and fault["fault"] == "timeout_after_charge"
            else 0.0
        )
        response = self._answer(200, "PaymentResponse", result)
        response.delay = delay
        return response

    def _details(self, body: dict[str, Any]) -> Response:
        """``/payments/details`` after a challenge. The fake's ``threeDSResult`` is
        ``<pspReference>:Y`` (authenticated) or ``<pspReference>:N`` (not)."""
        if errors := self._check("PaymentDetailsRequest", body, "request"):
            return self._service_error(422, "702", errors[0][:200], "validation")
        psp, _, verdict = str((body.get("details") or {}).get("threeDSResult") or "").partition(":")
        payment = self.payments.get(psp)
        if payment is None or payment["resultCode"] != "ChallengeShopper":
            return self._service_error(422, "14_002", "Invalid payment details", "validation")
        result: dict[str, Any] = {
            "pspReference": psp,
            "merchantReference": payment["reference"],
            "amount": payment["amount"],
        }
        if verdict == "Y":
            result["resultCode"] = "Authorised"
        else:
            result.update(
                resultCode="Refused", refusalReason="3D Not Authenticated", refusalReasonCode="11"
            )
        payment["resultCode"] = result["resultCode"]
        return self._answer(200, "PaymentDetailsResponse", result)

    def _outcome_of(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        token = SANDBOX_NAMES.get(token, token)
        if token == "pm_card_recovers_on_retry" or token == "pm_card_fails_after_first":
            paid = any(
                p["token"] == token
                and p["resultCode"] == "Authorised"
                and p["shopperReference"] == body.get("shopperReference")
                for p in self.payments.values()
            )
            first_try = str(body.get("reference", "")).endswith(":attempt:1")
            if paid and (first_try or token == "pm_card_fails_after_first"):
                token = "stored_refused_12"
        if token == "stored_challenge":
            return {
                "resultCode": "ChallengeShopper",
                "action": {
                    "type": "threeDS2",
                    "paymentMethodType": "scheme",
                    "subtype": "challenge",
                    "token": "fake-3ds2-token",
                    "paymentData": "fake",
                },
            }
        if token == "stored_pending":
            return {"resultCode": "Received"}
        if token == "stored_error":
            return {
                "resultCode": "Error",
                "refusalReason": "Acquirer Error",
                "refusalReasonCode": "4",
            }
        match = _REFUSED.match(token)
        if match is not None:
            code = match.group(1)
            refused: dict[str, Any] = {
                "resultCode": "Refused",
                "refusalReasonCode": code,
                "refusalReason": REFUSALS.get(code, "Refused"),
            }
            if match.group(2):
                refused["additionalData"] = {"merchantAdviceCode": f"{match.group(2)}: advice"}
            return refused
        return {"resultCode": "Authorised", "additionalData": {"cardSummary": "1111"}}

    def _refund(self, psp: str, body: dict[str, Any]) -> Response:
        if errors := self._check("PaymentRefundRequest", body, "request"):
            return self._service_error(422, "702", errors[0][:200], "validation")
        payment = self.payments.get(psp)
        if payment is None or payment["resultCode"] != "Authorised":
            return self._service_error(
                422, "167", "Original pspReference required for this operation", "validation"
            )
        refunded = sum(
            r["amount"]["value"] for r in self.refunds if r["paymentPspReference"] == psp
        )
        if refunded + body["amount"]["value"] > payment["amount"]["value"]:
            return self._service_error(422, "137", "Invalid amount specified", "validation")
        refund = {
            "merchantAccount": body["merchantAccount"],
            "paymentPspReference": psp,
            "pspReference": _psp(),
            "reference": body.get("reference"),
            "status": "received",
            "amount": body["amount"],
        }
        self.refunds.append(refund)
        return self._answer(201, "PaymentRefundResponse", refund)

    def _stored(self, query: dict[str, Any]) -> Response:
        shopper = str(query.get("shopperReference") or "")
        tokens = {
            "8415000000000001",
            "stored_challenge",
            "stored_pending",
            *SANDBOX_NAMES,
            *SANDBOX_PASSING,
        }
        tokens |= {p["token"] for p in self.payments.values()}
        methods = [
            {
                "id": token,
                "type": "scheme",
                "brand": "visa",
                "lastFour": "1111",
                "expiryMonth": "03",
                "expiryYear": "2030",
                "holderName": "Test Shopper",
                "shopperReference": shopper,
                "supportedRecurringProcessingModels": ["Subscription"],
            }
            for token in sorted(tokens)
        ]
        body = {
            "merchantAccount": self.merchant_account,
            "shopperReference": shopper,
            "storedPaymentMethods": methods,
        }
        return self._answer(200, "ListStoredPaymentMethodsResponse", body)

    # --- notifications -------------------------------------------------------------------

    def item(self, event_code: str, **fields: Any) -> dict[str, Any]:
        """A signed NotificationRequestItem as Adyen sends it (strings for booleans)."""
        item: dict[str, Any] = {
            "eventCode": event_code,
            "success": "true",
            "pspReference": _psp(),
            "merchantAccountCode": self.merchant_account,
            "merchantReference": "",
            "amount": {"value": 0, "currency": "EUR"},
            "eventDate": datetime.now(UTC).isoformat(timespec="seconds"),
            "additionalData": {},
            **fields,
        }
        item["additionalData"] = {
            **item["additionalData"],
            "hmacSignature": adyen_hmac(item, self.hmac_keys[0]),
        }
        return item

    def envelope(self, *items: dict[str, Any]) -> dict[str, Any]:
        body = {
            "live": "false",
            "notificationItems": [{"NotificationRequestItem": i} for i in items],
        }
        name = f"{_schema_of(items[0]['eventCode'])}NotificationRequest"
        if name in SCHEMAS["webhooks"]:
            errors = [
                f"notification {name}: {e.message}"
                for e in validator("webhooks", name).iter_errors(body)
            ]
            with self.lock:
                self.violations.extend(errors)
        return body

    def send(self, *items: dict[str, Any]) -> int:
        if not self.webhook_url:
            return 0
        response = httpx.post(self.webhook_url, json=self.envelope(*items), timeout=10)
        self.webhooks_sent.append(response.status_code)
        return response.status_code

    def _notify_outcome(self, body: dict[str, Any], parts: list[str]) -> None:
        if parts[1] == "payments" and body.get("resultCode") in ("Authorised", "Refused"):
            payment = self.payments[body["pspReference"]]
            self.send(
                self.item(
                    "AUTHORISATION",
                    pspReference=body["pspReference"],
                    merchantReference=payment["reference"],
                    amount=payment["amount"],
                    success="true" if body["resultCode"] == "Authorised" else "false",
                    reason=body.get("refusalReason") or "",
                )
            )
        elif body.get("status") == "received":
            self.send(
                self.item(
                    "REFUND",
                    pspReference=body["pspReference"],
                    originalReference=body["paymentPspReference"],
                    merchantReference=body.get("reference") or "",
                    amount=body["amount"],
                )
            )

    def _control(self, request: Request) -> Response:
        if request.path == "/_fake/faults" and request.method == "POST":
            fault = {"times": 1, **request.json()}
            with self.lock:
                self.faults.append(fault)
            return Response(200, fault)
        if request.path == "/_fake/ledger":
            with self.lock:
                return Response(
                    200,
                    {
                        "payments": list(self.payments.values()),
                        "refunds": self.refunds,
                        "violations": self.violations,
                        # (method, path, Idempotency-Key) of every API request, in order
                        "requests": self.requests,
                    },
                )
        if request.path == "/_fake/notifications" and request.method == "POST":
            spec = copy.deepcopy(request.json())
            status = self.send(self.item(spec.pop("eventCode"), **spec))
            return Response(200, {"delivered_status": status})
        return Response(404, {"error": "unknown control path"})


def _schema_of(event_code: str) -> str:
    return "".join(part.capitalize() for part in event_code.split("_"))
