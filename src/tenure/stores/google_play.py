"""Google Play real-time developer notifications: Pub/Sub push in, the purchase mapped.

A notification only says *that* something changed (``notificationType``, ``purchaseToken``);
the state comes from ``purchases.subscriptionsv2.get`` (:mod:`tenure.stores.play_api`), and
:func:`facts_of_purchase` maps it (docs/stores.md, "Google Play").

Push authentication (:class:`PushAuth`): Pub/Sub signs each push with an OIDC token for the
configured audience (a JWT, RS256, Google's keys); for local use a shared token in the push
URL (``?token=``) is accepted instead when configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import jwt
import msgspec

from tenure.store_settings import StoreSettings
from tenure.stores.facts import Happened, PriceConsent, StoreFacts, StoreMoney, StoreTxn
from tenure.stores.facts import from_units_nanos as to_minor
from tenure.subscriptions.channels import Channel
from tenure.subscriptions.state import Status

GOOGLE_ISSUERS: Final = ("accounts.google.com", "https://accounts.google.com")
JWKS_TTL: Final = 3600.0
# notificationType -> what happened (docs/stores.md); others are read as a plain sync.
HAPPENED: Final[dict[int, Happened]] = {
    1: Happened.RECOVERED,  # SUBSCRIPTION_RECOVERED
    2: Happened.RENEWED,  # SUBSCRIPTION_RENEWED
    3: Happened.AUTO_RENEW_CHANGED,  # SUBSCRIPTION_CANCELED
    4: Happened.SUBSCRIBED,  # SUBSCRIPTION_PURCHASED
    5: Happened.RENEWAL_FAILED,  # SUBSCRIPTION_ON_HOLD
    6: Happened.RENEWAL_FAILED,  # SUBSCRIPTION_IN_GRACE_PERIOD
    7: Happened.RESTARTED,  # SUBSCRIPTION_RESTARTED
    8: Happened.PRICE_INCREASE,  # SUBSCRIPTION_PRICE_CHANGE_CONFIRMED (deprecated)
    9: Happened.EXTENDED,  # SUBSCRIPTION_DEFERRED
    10: Happened.PAUSED,  # SUBSCRIPTION_PAUSED
    11: Happened.PAUSE_SCHEDULED,  # SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED
    12: Happened.REVOKED,  # SUBSCRIPTION_REVOKED
    13: Happened.EXPIRED,  # SUBSCRIPTION_EXPIRED
    17: Happened.SYNCED,  # SUBSCRIPTION_ITEMS_CHANGED
    18: Happened.AUTO_RENEW_CHANGED,  # SUBSCRIPTION_CANCELLATION_SCHEDULED
    19: Happened.PRICE_INCREASE,  # SUBSCRIPTION_PRICE_CHANGE_UPDATED
    20: Happened.PENDING_CANCELED,  # SUBSCRIPTION_PENDING_PURCHASE_CANCELED
}
STATES: Final[dict[str, Status | None]] = {
    "SUBSCRIPTION_STATE_ACTIVE": Status.ACTIVE,
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD": Status.PAST_DUE,
    "SUBSCRIPTION_STATE_ON_HOLD": Status.ON_HOLD,
    "SUBSCRIPTION_STATE_PAUSED": Status.PAUSED,
    "SUBSCRIPTION_STATE_CANCELED": None,  # auto-renew off, still running until expiry
    "SUBSCRIPTION_STATE_EXPIRED": Status.EXPIRED,
    "SUBSCRIPTION_STATE_PENDING": Status.INCOMPLETE,
    "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED": Status.INCOMPLETE_EXPIRED,
}
# States in which the latest order was paid.
_PAID_STATES: Final = frozenset(
    {"SUBSCRIPTION_STATE_ACTIVE", "SUBSCRIPTION_STATE_CANCELED", "SUBSCRIPTION_STATE_PAUSED"}
)
_ENDINGS: Final = {
    "userInitiatedCancellation": "canceled",
    "systemInitiatedCancellation": "billing_retry",
    "developerInitiatedCancellation": "developer_canceled",
    "replacementCancellation": "replaced",
}


class MalformedPush(ValueError):
    """The body is not a Pub/Sub push of a developer notification."""


class PushRefused(Exception):
    """The push is not authenticated as configured (401)."""


class GoogleNotice(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    package_name: str
    event_time: int  # epoch milliseconds
    kind: str  # subscription | voided | test | one_time | unknown
    notification_type: int | None = None
    purchase_token: str | None = None  # kept in the inbox only; never logged or returned
    order_id: str | None = None  # voided purchases
    product_type: int | None = None  # voided: 1 subscription, 2 one-time
    refund_type: int | None = None  # voided: 1 full, 2 quantity-based partial

    @property
    def token_hash(self) -> str | None:
        return token_hash(self.purchase_token) if self.purchase_token else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_push(body: bytes) -> GoogleNotice:
    """A Pub/Sub push body to a notice (schema placeholders and garbage are refused)."""
    try:
        envelope = json.loads(body)
        message = envelope["message"]
        message_id = str(message.get("messageId") or message.get("message_id") or "")
        data = json.loads(base64.b64decode(message["data"], validate=True))
        package = str(data["packageName"])
        event_time = int(data["eventTimeMillis"])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise MalformedPush(f"not a Pub/Sub push of a developer notification: {error}") from None
    if not message_id:
        raise MalformedPush("the Pub/Sub message has no messageId")
    sub, voided = data.get("subscriptionNotification"), data.get("voidedPurchaseNotification")
    try:
        if isinstance(sub, dict):
            return GoogleNotice(
                message_id=message_id,
                package_name=package,
                event_time=event_time,
                kind="subscription",
                notification_type=int(sub["notificationType"]),
                purchase_token=str(sub["purchaseToken"]),
            )
        if isinstance(voided, dict):
            return GoogleNotice(
                message_id=message_id,
                package_name=package,
                event_time=event_time,
                kind="voided",
                purchase_token=str(voided["purchaseToken"]),
                order_id=str(voided.get("orderId") or "") or None,
                product_type=int(voided.get("productType") or 0),
                refund_type=int(voided.get("refundType") or 0),
            )
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedPush(f"incomplete developer notification: {error}") from None
    kind = "test" if "testNotification" in data else "unknown"
    if "oneTimeProductNotification" in data:
        kind = "one_time"
    return GoogleNotice(
        message_id=message_id, package_name=package, event_time=event_time, kind=kind
    )


class PushAuth:
    """Checks a push's ``Authorization: Bearer <OIDC JWT>`` (or the shared ``?token=``)."""

    def __init__(self, settings: StoreSettings, http: httpx.AsyncClient) -> None:
        self.audience = settings.google_play_push_audience
        self.account = settings.google_play_push_service_account
        self.shared = settings.google_play_push_token
        self.jwks_url = settings.google_play_jwks_url
        self._http = http
        self._keys: dict[str, Any] = {}
        self._fetched = 0.0

    @property
    def configured(self) -> bool:
        return bool(self.audience or self.shared)

    async def check(self, authorization: str | None, token: str | None) -> str:
        """Returns how the push was authenticated; raises :class:`PushRefused`."""
        if self.shared and token is not None:
            if hmac.compare_digest(token.encode(), self.shared.encode()):
                return "shared_token"
            raise PushRefused("the push token does not match")
        if not self.audience:
            raise PushRefused("no push token, and no OIDC audience is configured")
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            raise PushRefused("no OIDC bearer token")
        try:
            header = jwt.get_unverified_header(credentials)
            key = await self._key(str(header.get("kid") or ""))
            claims = jwt.decode(
                credentials,
                key,
                algorithms=["RS256"],
                audience=self.audience,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except (jwt.PyJWTError, httpx.HTTPError, KeyError, ValueError) as error:
            raise PushRefused(f"OIDC token refused: {type(error).__name__}") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise PushRefused("OIDC token not issued by Google")
        if self.account and (
            claims.get("email") != self.account or claims.get("email_verified") is not True
        ):
            raise PushRefused("OIDC token of another service account")
        return "oidc"

    async def _key(self, kid: str) -> Any:
        stale = time.monotonic() - self._fetched > JWKS_TTL
        # A key Google rotated in is fetched at once, at most once a minute.
        if stale or (kid not in self._keys and time.monotonic() - self._fetched > 60):
            response = await self._http.get(self.jwks_url)
            response.raise_for_status()
            keyset = jwt.PyJWKSet.from_dict(response.json())
            self._keys = {k.key_id: k.key for k in keyset.keys if k.key_id}
            self._fetched = time.monotonic()
        return self._keys[kid]


# --- the purchase -> facts --------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Google writes up to nanoseconds; Python reads microseconds
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    return datetime.fromisoformat(text).astimezone(UTC)


def _price(line: dict[str, Any]) -> StoreMoney | None:
    money = (line.get("autoRenewingPlan") or {}).get("recurringPrice")
    if not isinstance(money, dict) or not money.get("currencyCode"):
        return None
    currency = str(money["currencyCode"])
    amount = to_minor(int(money.get("units") or 0), int(money.get("nanos") or 0), currency)
    return StoreMoney(amount, currency)


def product_of(line: dict[str, Any]) -> str:
    base_plan = (line.get("offerDetails") or {}).get("basePlanId")
    product = str(line.get("productId") or "")
    return f"{product}:{base_plan}" if base_plan else product


def facts_of_purchase(
    purchase: dict[str, Any],
    *,
    store_key: str,
    notification_type: int | None,
    as_of: datetime,
) -> StoreFacts | str:
    """The facts of a ``SubscriptionPurchaseV2``, or why it changes nothing."""
    state = str(purchase.get("subscriptionState") or "")
    if state not in STATES:
        return f"subscriptionState {state or 'missing'} says nothing Tenure can act on"
    lines = purchase.get("lineItems") or []
    if not lines or not isinstance(lines[0], dict):
        return "the purchase has no line items"
    line = lines[0]
    happened = HAPPENED.get(notification_type or 0, Happened.SYNCED)
    status = STATES[state]
    ended_reason = None
    if status is Status.EXPIRED:
        context = purchase.get("canceledStateContext") or {}
        ended_reason = next((why for key, why in _ENDINGS.items() if key in context), "expired")
    if happened is Happened.REVOKED:
        status, ended_reason = Status.CANCELED, "revoked"
    if status is Status.INCOMPLETE_EXPIRED:
        ended_reason = "pending_purchase_canceled"
    expiry = _time(line.get("expiryTime"))
    trial = "freeTrial" in (line.get("offerPhase") or {})
    plan = line.get("autoRenewingPlan") or {}
    order = line.get("latestSuccessfulOrderId") or (
        purchase.get("latestOrderId") if state in _PAID_STATES else None
    )
    start = _time(purchase.get("startTime"))
    transactions: tuple[StoreTxn, ...] = ()
    if order and status not in (Status.INCOMPLETE, Status.INCOMPLETE_EXPIRED):
        first = happened is Happened.SUBSCRIBED
        transactions = (
            StoreTxn(
                transaction_id=str(order),
                product_id=product_of(line),
                purchased_at=(start if first and start else as_of),
                expires_at=expiry,
                price=None if trial else _price(line),
                free_trial=trial,
                upgrade=first and bool(purchase.get("linkedPurchaseToken")),
            ),
        )
    consent = None
    if happened is Happened.PRICE_INCREASE:
        consent = PriceConsent.ACCEPTED
    accounts = purchase.get("externalAccountIdentifiers") or {}
    return StoreFacts(
        channel=Channel.GOOGLE_PLAY,
        store_key=store_key,
        environment="Sandbox" if purchase.get("testPurchase") is not None else "Production",
        as_of=as_of,
        happened=happened,
        account_ref=accounts.get("obfuscatedExternalAccountId"),
        product_id=product_of(line),
        status=Status.TRIALING if status is Status.ACTIVE and trial else status,
        period_start=start if happened is Happened.SUBSCRIBED else None,
        period_end=expiry,
        auto_renew=bool(plan.get("autoRenewEnabled")) if "autoRenewEnabled" in plan else None,
        grace_ends_at=expiry if status is Status.PAST_DUE else None,
        renewal_price=_price(line),
        price_consent=consent,
        ended_reason=ended_reason,
        transactions=transactions,
        transaction_id=str(order) if order else None,
        details={"state": state.removeprefix("SUBSCRIPTION_STATE_").lower()},
    )


def needs_acknowledgement(purchase: dict[str, Any]) -> bool:
    return purchase.get("acknowledgementState") == "ACKNOWLEDGEMENT_STATE_PENDING" and str(
        purchase.get("subscriptionState")
    ) in (*_PAID_STATES, "SUBSCRIPTION_STATE_IN_GRACE_PERIOD")
