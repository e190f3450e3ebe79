"""A fake Stripe API whose objects are Stripe's own published examples (fixtures3.json).

Every object it returns starts as the fixture of its resource with the fields this fake decides
(id, amount, status, ...) filled in, so the adapter parses Stripe's real shapes. It keeps
Stripe's idempotency rule (same key + same parameters = the stored response, replayed with
``Idempotent-Replayed: true``; other parameters = 400 ``idempotency_error``), answers 402
``card_error`` for declines with ``error.payment_intent``, and 401 for a wrong key.

Test PaymentMethods (Stripe's test-mode names, plus the sandbox's, plus one rule):
``pm_card_visa``/``pm_card_mastercard`` succeed; ``pm_card_authenticationRequired`` needs 3-D
Secure; ``pm_card_decline_<decline_code>`` declines with that code (e.g.
``pm_card_decline_stolen_card``); the named ones in :data:`DECLINES` likewise;
``pm_card_processing`` leaves the PaymentIntent ``processing`` (as a bank debit would) until
:meth:`StripeFake.settle` decides it.

Faults for tests (``POST /_fake/faults``): ``server_error`` (500 before charging),
``rate_limit`` (429 with ``Retry-After``), ``timeout_after_charge`` (charges, then holds the
answer for ``delay`` seconds). ``GET /_fake/ledger`` shows what it charged;
``POST /_fake/events`` sends a signed webhook to the configured URL.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

import httpx

from tenure.payments.fakes.server import Request, Response
from tenure.payments.signatures import stripe_header

FIXTURES: Final[dict[str, Any]] = json.loads(
    resources.files("tenure.payments.fakes").joinpath("data/stripe_fixtures.json").read_text()
)
# (decline_code, advice_code); the error's ``code`` is card_declined unless said otherwise.
DECLINES: Final[dict[str, tuple[str, str | None]]] = {
    "pm_card_chargeDeclined": ("generic_decline", None),
    "pm_card_chargeDeclinedInsufficientFunds": ("insufficient_funds", None),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", None),
    "pm_card_chargeDeclinedLostCard": ("lost_card", None),
    "pm_card_chargeDeclinedStolenCard": ("stolen_card", None),
    "pm_card_chargeDeclinedFraudulent": ("fraudulent", None),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", None),
    "pm_card_chargeDeclinedProcessingError": ("processing_error", None),
    # The sandbox's names, so the same flows run against this fake.
    "pm_card_declined": ("generic_decline", "do_not_try_again"),
    "pm_card_insufficient_funds": ("insufficient_funds", None),
    "pm_card_expired": ("expired_card", None),
    "pm_card_lost": ("lost_card", None),
}
CARDS: Final[dict[str, tuple[str, str]]] = {
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_amex": ("amex", "8431"),
}
PROCESSING_CARD: Final = "pm_card_processing"
SCA_CARDS: Final = frozenset({"pm_card_authenticationRequired", "pm_card_threeDSecureRequired"})


def _fixture(resource: str, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(FIXTURES[resource])
    obj.update(fields)
    return obj


def _id(prefix: str) -> str:
    return f"{prefix}_fake{secrets.token_hex(8)}"


def _error(status: int, type_: str, message: str, **fields: Any) -> Response:
    return Response(status, {"error": {"type": type_, "message": message, **fields}})


@dataclass
class StripeFake:
    api_key: str = "sk_test_fake"
    webhook_url: str | None = None
    webhook_secrets: list[str] = field(default_factory=lambda: ["whsec_fake"])
    lock: threading.RLock = field(default_factory=threading.RLock)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    attachments: set[tuple[str, str]] = field(default_factory=set)  # (token, customer)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Idempotency-Key -> (parameters, status, body): Stripe's replay store.
    replays: dict[str, tuple[Any, int, Any]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)  # every charge attempt made
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    webhooks_sent: list[int] = field(default_factory=list)

    # --- entry point -----------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        if request.path.startswith("/_fake/"):
            return self._control(request)
        with self.lock:
            self.requests.append((request.method, request.path, request.header("idempotency-key")))
        if request.header("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        fault = self._fault(request)
        if fault is not None and fault["fault"] in ("server_error", "rate_limit"):
            if fault["fault"] == "rate_limit":
                retry = str(fault.get("retry_after", 1))
                response = _error(
                    429, "invalid_request_error", "Too many requests", code="rate_limit"
                )
                response.headers["Retry-After"] = retry
                return response
            return _error(500, "api_error", "Something went wrong on Stripe's end.")
        key = request.header("idempotency-key")
        if request.method == "POST" and key:
            return self._idempotent(request, key, fault)
        return self._route(request, fault)

    def _fault(self, request: Request) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault.get("path", "/v1/payment_intents") == request.path and fault["times"] > 0:
                    fault["times"] -= 1
                    return fault
        return None

    def _idempotent(self, request: Request, key: str, fault: dict[str, Any] | None) -> Response:
        params = request.form()
        with self.lock:
            stored = self.replays.get(key)
            if stored is not None:
                if stored[0] != params:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters",
                    )
                return Response(stored[1], stored[2], {"Idempotent-Replayed": "true"})
            response = self._route(request, fault)
            if response.status not in (401, 429):  # produced before Stripe's idempotency layer
                self.replays[key] = (params, response.status, response.body)
            return response

    def _route(self, request: Request, fault: dict[str, Any] | None) -> Response:
        parts = request.path.strip("/").split("/")
        method = request.method
        if parts[:2] == ["v1", "customers"] and method == "POST" and len(parts) == 2:
            return self._create_customer(request.form())
        if parts[:2] == ["v1", "payment_methods"] and len(parts) >= 3:
            if method == "POST" and parts[3:] == ["attach"]:
                return self._attach(parts[2], request.form())
            return self._get(self.methods, parts[2], "payment_method")
        if parts[:2] == ["v1", "payment_intents"]:
            if len(parts) == 2 and method == "POST":
                return self._create_intent(request.form(), fault)
            if len(parts) == 2:
                return self._list_intents(request.query)
            if parts[2] == "search":
                return self._search_intents(request.query)
            return self._get(self.intents, parts[2], "payment_intent")
        if parts[:2] == ["v1", "refunds"]:
            if len(parts) == 2 and method == "POST":
                return self._create_refund(request.form())
            if len(parts) == 2:
                target = request.query.get("payment_intent") or request.query.get("charge")
                data = [
                    r for r in self.refunds.values() if target in (r["payment_intent"], r["charge"])
                ]
                return Response(
                    200, {"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"}
                )
            return self._get(self.refunds, parts[2], "refund")
        return _error(
            404, "invalid_request_error", f"Unrecognized request URL ({method}: {request.path})"
        )

    def _get(self, store: dict[str, dict[str, Any]], object_id: str, kind: str) -> Response:
        found = store.get(object_id)
        if found is None:
            return _error(
                404,
                "invalid_request_error",
                f"No such {kind}: '{object_id}'",
                code="resource_missing",
            )
        return Response(200, found)

    # --- objects -------------------------------------------------------------------------

    def _create_customer(self, params: dict[str, Any]) -> Response:
        customer = _fixture(
            "customer",
            id=_id("cus"),
            metadata=params.get("metadata", {}),
            created=int(time.time()),
            email=None,
            name=None,
            phone=None,
            address=None,
            shipping=None,
        )
        self.customers[customer["id"]] = customer
        return Response(200, customer)

    def card_for(self, token: str) -> dict[str, Any]:
        brand, last4 = CARDS.get(token, ("visa", "4242"))
        card = copy.deepcopy(FIXTURES["payment_method"].get("card") or {})
        card.update(brand=brand, last4=last4, exp_month=12, exp_year=2034, display_brand=brand)
        return card

    def _attach(self, token: str, params: dict[str, Any]) -> Response:
        customer = params.get("customer")
        if customer not in self.customers:
            return _error(
                400,
                "invalid_request_error",
                f"No such customer: '{customer}'",
                code="resource_missing",
            )
        existing = self.methods.get(token)
        # Stripe's test-mode names (pm_card_visa, ...) work for any customer: Stripe makes a
        # new PaymentMethod from one each time. A real pm_… belongs to one customer.
        magic = token.startswith("pm_card_")
        if existing is not None and existing["customer"] not in (None, customer) and not magic:
            return _error(
                400,
                "invalid_request_error",
                "The payment method you provided has already been attached to a customer.",
                code="payment_method_already_attached",
            )
        method = _fixture(
            "payment_method",
            id=token,
            customer=customer,
            type="card",
            card=self.card_for(token),
            billing_details={"address": None, "email": None, "name": None, "phone": None},
            created=int(time.time()),
            metadata={},
        )
        self.methods[token] = method
        self.attachments.add((token, str(customer)))
        return Response(200, method)

    def _create_intent(self, params: dict[str, Any], fault: dict[str, Any] | None) -> Response:
        token = str(params.get("payment_method") or "")
        customer = params.get("customer")
        if customer not in self.customers or (token, str(customer)) not in self.attachments:
            return _error(
                400,
                "invalid_request_error",
                "The provided PaymentMethod is not attached to this customer.",
                code="resource_missing",
                param="payment_method",
            )
        off_session = params.get("off_session") == "true"
        intent = _fixture(
            "payment_intent",
            id=_id("pi"),
            amount=int(params["amount"]),
            amount_received=0,
            currency=params["currency"],
            customer=customer,
            payment_method=token,
            metadata=params.get("metadata", {}),
            description=params.get("description"),
            created=int(time.time()),
            canceled_at=None,
            processing=None,
            transfer_data=None,
            last_payment_error=None,
            next_action=None,
            latest_charge=None,
            payment_method_types=["card"],
            automatic_payment_methods=None,
        )
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        decline = self._decline_of(token, params)
        charge_id = _id("ch")
        self.intents[intent["id"]] = intent
        self.charges.append(
            {
                "payment_intent": intent["id"],
                "key": params.get("metadata", {}).get("tenure_idempotency_key"),
                "amount": intent["amount"],
                "customer": customer,
                "token": token,
                "status": "declined" if decline or token in SCA_CARDS else "succeeded",
            }
        )
        if token in SCA_CARDS:
            if off_session:
                intent["status"] = "requires_payment_method"
                error = self._card_error(
                    intent,
                    charge_id,
                    "authentication_required",
                    None,
                    code="authentication_required",
                )
                intent["last_payment_error"] = copy.deepcopy(error["error"])
                intent["last_payment_error"].pop("payment_intent", None)
                return Response(402, error)
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            return Response(200, intent)
        if token == PROCESSING_CARD:
            intent["status"] = "processing"
            self.charges[-1]["status"] = "processing"
            return Response(200, intent)
        if decline is not None:
            intent["status"] = "requires_payment_method"
            error = self._card_error(intent, charge_id, *decline)
            intent["last_payment_error"] = {
                k: v for k, v in error["error"].items() if k != "payment_intent"
            }
            return Response(402, error)
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge_id)
        delay = (
            float(fault.get("delay", 2.0))
            if fault and fault["fault"] == "timeout_after_charge"
            else 0.0
        )
        return Response(200, intent, delay=delay)

    def _decline_of(self, token: str, params: dict[str, Any]) -> tuple[str, str | None] | None:
        if token.startswith("pm_card_decline_"):
            return token.removeprefix("pm_card_decline_"), None
        if token == "pm_card_recovers_on_retry":
            key = str(params.get("metadata", {}).get("tenure_idempotency_key") or "")
            paid = any(
                c["token"] == token
                and c["status"] == "succeeded"
                and c["customer"] == params.get("customer")
                for c in self.charges
            )
            return ("insufficient_funds", None) if key.endswith(":attempt:1") and paid else None
        if token == "pm_card_fails_after_first":
            paid = any(
                c["token"] == token
                and c["status"] == "succeeded"
                and c["customer"] == params.get("customer")
                for c in self.charges
            )
            return ("insufficient_funds", None) if paid else None
        return DECLINES.get(token)

    def _card_error(
        self,
        intent: dict[str, Any],
        charge_id: str,
        decline_code: str,
        advice: str | None,
        code: str = "card_declined",
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "code": code,
            "decline_code": decline_code,
            "charge": charge_id,
            "payment_intent": intent,
            "doc_url": f"https://stripe.com/docs/error-codes/{code}",
        }
        if advice:
            fields["advice_code"] = advice
        return {"error": {"type": "card_error", "message": "Your card was declined.", **fields}}

    def _list_intents(self, query: dict[str, Any]) -> Response:
        since = int((query.get("created") or {}).get("gte") or 0)
        data = [
            i
            for i in self.intents.values()
            if i["customer"] == query.get("customer") and i["created"] >= since
        ]
        data.sort(key=lambda i: i["created"], reverse=True)
        return Response(
            200, {"object": "list", "data": data, "has_more": False, "url": "/v1/payment_intents"}
        )

    def _search_intents(self, query: dict[str, Any]) -> Response:
        text = str(query.get("query") or "")  # metadata['k']:'v'
        data = []
        if text.startswith("metadata['") and "']:'" in text:
            key, _, value = text.removeprefix("metadata['").partition("']:'")
            value = value.removesuffix("'").replace("\\'", "'")
            data = [i for i in self.intents.values() if i["metadata"].get(key) == value]
        return Response(
            200,
            {
                "object": "search_result",
                "data": data,
                "has_more": False,
                "next_page": None,
                "url": "/v1/payment_intents/search",
            },
        )

    def _create_refund(self, params: dict[str, Any]) -> Response:
        intent = self.intents.get(str(params.get("payment_intent") or ""))
        if intent is None:
            intent = next(
                (i for i in self.intents.values() if i["latest_charge"] == params.get("charge")),
                None,
            )
        if intent is None or intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "No such charge", code="resource_missing")
        amount = int(params.get("amount") or intent["amount"])
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
        )
        if refunded + amount > intent["amount"]:
            return _error(
                400,
                "invalid_request_error",
                "Refund amount is greater than unrefunded amount",
                code="amount_too_large",
            )
        refund = _fixture(
            "refund",
            id=_id("re"),
            amount=amount,
            currency=intent["currency"],
            status="succeeded",
            charge=intent["latest_charge"],
            payment_intent=intent["id"],
            created=int(time.time()),
            metadata=params.get("metadata", {}),
            reason=params.get("reason"),
            destination_details=None,
            next_action=None,
        )
        self.refunds[refund["id"]] = refund
        return Response(200, refund)

    def settle(self, intent_id: str, *, decline_code: str | None = None) -> dict[str, Any]:
        """Decide a ``processing`` (or ``requires_action``) PaymentIntent as Stripe would later:
        succeeded, or failed with ``decline_code``; returns it (for the webhook's event)."""
        with self.lock:
            intent = self.intents[intent_id]
            charge = next(c for c in self.charges if c["payment_intent"] == intent_id)
            if decline_code is None:
                latest = _id("ch")
                intent.update(
                    status="succeeded", amount_received=intent["amount"], latest_charge=latest
                )
                charge["status"] = "succeeded"
            else:
                error = self._card_error(intent, _id("ch"), decline_code, None)["error"]
                error.pop("payment_intent", None)
                intent.update(status="requires_payment_method", last_payment_error=error)
                charge["status"] = "declined"
            return copy.deepcopy(intent)

    # --- control: faults, ledger, webhooks -----------------------------------------------

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
                        "charges": self.charges,
                        "refunds": list(self.refunds.values()),
                        # (method, path, Idempotency-Key) of every API request, in order
                        "requests": self.requests,
                    },
                )
        if request.path == "/_fake/events" and request.method == "POST":
            spec = request.json()
            return Response(
                200, self.send_event(spec["type"], spec.get("object") or {}, spec.get("created"))
            )
        return Response(404, {"error": "unknown control path"})

    def event(self, type_: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
        """A Stripe Event (fixture shape) wrapping ``obj`` (fields over the resource's fixture)."""
        resource = {
            "payment_method": "payment_method",
            "payment_intent": "payment_intent",
            "charge": "charge",
            "charge.dispute": "dispute",
            "charge.refund": "refund",
        }
        kind = next(
            (
                r
                for p, r in sorted(resource.items(), key=lambda x: -len(x[0]))
                if type_.startswith(p + ".")
            ),
            None,
        )
        data = obj if kind is None else {**copy.deepcopy(FIXTURES[kind]), **obj}
        return _fixture(
            "event",
            id=_id("evt"),
            type=type_,
            created=created or int(time.time()),
            data={"object": data, "previous_attributes": None},
            livemode=False,
            pending_webhooks=1,
            request={"id": None, "idempotency_key": None},
        )

    def send_event(
        self, type_: str, obj: dict[str, Any], created: int | None = None
    ) -> dict[str, Any]:
        event = self.event(type_, obj, created)
        body = json.dumps(event).encode()
        status = 0
        if self.webhook_url:
            header = stripe_header(body, self.webhook_secrets, int(time.time()))
            response = httpx.post(
                self.webhook_url,
                content=body,
                timeout=10,
                headers={"Stripe-Signature": header, "content-type": "application/json"},
            )
            status = response.status_code
            self.webhooks_sent.append(status)
        return {"event": event["id"], "delivered_status": status}
