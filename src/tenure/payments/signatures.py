"""Webhook signatures of the providers: Stripe's ``Stripe-Signature`` and Adyen's item HMAC.

Stripe (docs.stripe.com/webhooks; payments.md 1.6): header ``t=<unix>,v1=<hex>[,v1=…]``; the
signed payload is ``"{t}.{raw body}"``; ``v1`` is hex HMAC-SHA256 keyed with the whole
``whsec_…`` secret as UTF-8; every ``v1`` is compared in constant time with every configured
secret (one ``v1`` per active secret while a secret is rolled); ``v0`` and other schemes are
ignored; a timestamp older than the tolerance (300 s) is refused, and so is one further in the
future than the tolerance (clock skew beyond that is not a real delivery).

Adyen (payments.md 2.6): per notification item, the fields ``pspReference``,
``originalReference``, ``merchantAccountCode``, ``merchantReference``, ``amount.value``,
``amount.currency``, ``eventCode``, ``success`` joined by ``:`` (missing = empty, no escaping),
HMAC-SHA256 keyed with the hex-decoded key, base64; compared with
``additionalData.hmacSignature``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Final

STRIPE_TOLERANCE: Final = 300


class SignatureError(ValueError):
    """The webhook is not from the provider (or not fresh): refuse it, store nothing."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def stripe_v1(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def stripe_header(payload: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """A ``Stripe-Signature`` header as Stripe sends it (one ``v1`` per secret)."""
    return ",".join(
        [f"t={timestamp}", *(f"v1={stripe_v1(payload, s, timestamp)}" for s in secrets)]
    )


def verify_stripe(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance: int = STRIPE_TOLERANCE,
) -> int:
    """The signed timestamp, if some ``v1`` matches some secret; else :class:`SignatureError`."""
    if not secrets:
        raise SignatureError("no Stripe webhook secret is configured", code="not_configured")
    if not header:
        raise SignatureError("Stripe-Signature header missing", code="signature_missing")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("Stripe-Signature has no timestamp or no v1", code="bad_signature")
    expected = [stripe_v1(payload, secret, timestamp) for secret in secrets]
    matched = False
    for candidate in signatures:
        for value in expected:
            matched |= hmac.compare_digest(candidate.encode(), value.encode())
    if not matched:
        raise SignatureError("no v1 signature matches a configured secret", code="bad_signature")
    if tolerance and abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"timestamp outside the {tolerance} s tolerance (replayed or stale)",
            code="stale_signature",
        )
    return timestamp


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # JSON true/false sent by mistake: Adyen sends strings
        return "true" if value else "false"
    return str(value)


def adyen_signing_string(item: Mapping[str, Any]) -> str:
    amount = item.get("amount") or {}
    return ":".join(
        _text(v)
        for v in (
            item.get("pspReference"),
            item.get("originalReference"),
            item.get("merchantAccountCode"),
            item.get("merchantReference"),
            amount.get("value"),
            amount.get("currency"),
            item.get("eventCode"),
            item.get("success"),
        )
    )


def adyen_hmac(item: Mapping[str, Any], hex_key: str) -> str:
    key = binascii.unhexlify(hex_key)
    digest = hmac.new(key, adyen_signing_string(item).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_adyen_item(item: Mapping[str, Any], hex_keys: Sequence[str]) -> None:
    if not hex_keys:
        raise SignatureError("no Adyen HMAC key is configured", code="not_configured")
    given = str((item.get("additionalData") or {}).get("hmacSignature") or "")
    if not given:
        raise SignatureError("notification item has no hmacSignature", code="signature_missing")
    for key in hex_keys:
        if hmac.compare_digest(given.encode(), adyen_hmac(item, key).encode()):
            return
    raise SignatureError("hmacSignature matches no configured key", code="bad_signature")
