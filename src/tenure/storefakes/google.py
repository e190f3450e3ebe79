"""A fake Google Play Developer API, its OAuth token endpoint and the keys of Pub/Sub pushes.

Routes (paths as Google's; the base URL is ``TENURE_GOOGLE_PLAY_API_URL``):

- ``POST /token``: the service account's JWT bearer grant (the assertion must be signed by
  the key in :meth:`PlayFake.service_account`);
- ``GET /androidpublisher/v3/applications/{package}/purchases/subscriptionsv2/tokens/{token}``;
- ``POST .../purchases/subscriptions/{product}/tokens/{token}:acknowledge``;
- ``GET /oauth2/v3/certs``: the JWKS that verifies :meth:`PlayFake.push_token`;
- ``POST /_fake/google_play/purchases`` ``{"token", "purchase"}``: what ``get`` answers.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tenure.payments.fakes.server import Request, Response

PACKAGE: Final = "com.tenure.example"
PUSH_ACCOUNT: Final = "pubsub-push@tenure-example.iam.gserviceaccount.com"
_PREFIX: Final = "/androidpublisher/v3/applications/"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class PlayFake:
    package: str = PACKAGE
    purchases: dict[str, dict[str, Any]] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    url: str = "http://127.0.0.1"  # set once the server runs
    _account_key: rsa.RSAPrivateKey = field(default_factory=_rsa)
    _push_key: rsa.RSAPrivateKey = field(default_factory=_rsa)
    _tokens: set[str] = field(default_factory=set)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- what a test uses -----------------------------------------------------------------

    def service_account(self) -> str:
        """The JSON key Tenure gets as ``TENURE_GOOGLE_PLAY_SERVICE_ACCOUNT``."""
        return json.dumps(
            {
                "type": "service_account",
                "client_email": "tenure@tenure-example.iam.gserviceaccount.com",
                "private_key": _pem(self._account_key),
                "token_uri": f"{self.url}/token",
            }
        )

    def put(self, token: str, purchase: dict[str, Any]) -> None:
        self.purchases[token] = purchase

    def revoke_access_tokens(self) -> None:
        """As when Google revokes tokens or the key is rotated: every issued token fails."""
        self._tokens.clear()

    def push_token(
        self, audience: str, *, email: str = PUSH_ACCOUNT, expires_in: int = 3600
    ) -> str:
        """An OIDC token as Pub/Sub signs it for a push to ``audience``."""
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "email": email,
            "email_verified": True,
            "sub": "1234567890",
            "iat": now,
            "exp": now + expires_in,
        }
        return jwt.encode(claims, self._push_key, algorithm="RS256", headers={"kid": "push-1"})

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._push_key.public_key()))
        jwk.update(kid="push-1", alg="RS256", use="sig")
        return {"keys": [jwk]}

    # --- the server ----------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        self.calls.append(f"{request.method} {request.path.split('/tokens/')[0]}")
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        if request.path == "/oauth2/v3/certs":
            return Response(200, self.jwks())
        if request.path == "/_fake/google_play/purchases" and request.method == "POST":
            body = request.json()
            self.put(str(body["token"]), dict(body["purchase"]))
            return Response(200, {"ok": True})
        if not request.path.startswith(_PREFIX):
            return Response(404, {"error": {"code": 404, "message": "Not found"}})
        scheme, _, access = (request.header("authorization") or "").partition(" ")
        if scheme != "Bearer" or access not in self._tokens:
            return Response(401, {"error": {"code": 401, "message": "Invalid Credentials"}})
        package, _, rest = request.path[len(_PREFIX) :].partition("/")
        if package != self.package:
            return Response(404, {"error": {"code": 404, "message": "Package not found"}})
        if rest.startswith("purchases/subscriptionsv2/tokens/") and request.method == "GET":
            token = rest.removeprefix("purchases/subscriptionsv2/tokens/")
            found = self.purchases.get(token)
            if found is None:
                return Response(404, {"error": {"code": 404, "message": "Purchase not found"}})
            return Response(200, found)
        if rest.startswith("purchases/subscriptions/") and rest.endswith(":acknowledge"):
            token = rest.removesuffix(":acknowledge").rpartition("/tokens/")[2]
            found = self.purchases.get(token)
            if found is None:
                return Response(404, {"error": {"code": 404, "message": "Purchase not found"}})
            found["acknowledgementState"] = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
            self.acknowledged.append(token)
            return Response(204)
        return Response(404, {"error": {"code": 404, "message": "Not found"}})

    def _token(self, request: Request) -> Response:
        form = request.form()
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self._account_key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.url}/token",
            )
        except jwt.PyJWTError:
            return Response(400, {"error": "invalid_grant"})
        if "androidpublisher" not in str(claims.get("scope")):
            return Response(400, {"error": "invalid_scope"})
        access = f"ya29.fake-{next(self._serial)}"
        self._tokens.add(access)
        return Response(200, {"access_token": access, "expires_in": 3600, "token_type": "Bearer"})


def push_body(
    *,
    message_id: str,
    package: str,
    event_ms: int,
    notification_type: int | None = None,
    token: str | None = None,
    voided_order: str | None = None,
) -> bytes:
    """A Pub/Sub push request body carrying a developer notification."""
    note: dict[str, Any] = {
        "version": "1.0",
        "packageName": package,
        "eventTimeMillis": str(event_ms),
    }
    if voided_order is not None:
        note["voidedPurchaseNotification"] = {
            "purchaseToken": token,
            "orderId": voided_order,
            "productType": 1,
            "refundType": 1,
        }
    elif notification_type is not None:
        note["subscriptionNotification"] = {
            "version": "1.0",
            "notificationType": notification_type,
            "purchaseToken": token,
        }
    else:
        note["testNotification"] = {"version": "1.0"}
    data = base64.b64encode(json.dumps(note).encode()).decode()
    message = {"data": data, "messageId": message_id, "publishTime": "2026-01-01T00:00:00Z"}
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


def purchase(
    *,
    state: str,
    product: str = "premium_individual",
    base_plan: str = "monthly",
    start: str,
    expiry: str,
    order: str | None,
    auto_renew: bool = True,
    account: str | None = None,
    linked: str | None = None,
    acknowledged: bool = False,
    price_units: str = "9",
    price_nanos: int = 990_000_000,
    currency: str = "USD",
    free_trial: bool = False,
    canceled: str | None = None,
) -> dict[str, Any]:
    """A ``SubscriptionPurchaseV2`` as ``subscriptionsv2.get`` answers."""
    line: dict[str, Any] = {
        "productId": product,
        "expiryTime": expiry,
        "autoRenewingPlan": {
            "autoRenewEnabled": auto_renew,
            "recurringPrice": {
                "currencyCode": currency,
                "units": price_units,
                "nanos": price_nanos,
            },
        },
        "offerDetails": {"basePlanId": base_plan, "offerTags": []},
        "offerPhase": {"freeTrial": {}} if free_trial else {"basePrice": {}},
    }
    if order is not None:
        line["latestSuccessfulOrderId"] = order
    body: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "US",
        "startTime": start,
        "subscriptionState": f"SUBSCRIPTION_STATE_{state}",
        "lineItems": [line],
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
        if acknowledged
        else "ACKNOWLEDGEMENT_STATE_PENDING",
        "testPurchase": {},
    }
    if order is not None:
        body["latestOrderId"] = order
    if account is not None:
        body["externalAccountIdentifiers"] = {"obfuscatedExternalAccountId": account}
    if linked is not None:
        body["linkedPurchaseToken"] = linked
    if canceled is not None:
        body["canceledStateContext"] = {canceled: {}}
    return body
