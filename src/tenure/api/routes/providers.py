"""Webhooks from the payment providers: verified, stored in the inbox, then processed.

Public routes (no API key; the gate lets ``/v1/providers/`` through): the provider's signature
is the authentication. A bad, missing or stale signature answers 400 problem+json and stores
nothing; a verified event is stored once (a duplicate answers 200 and changes nothing), then
the handlers registered for its kind run (flows/provider_events.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response, post

from tenure.api.deps import RuntimeDep
from tenure.flows import provider_events
from tenure.kernel.errors import DomainError
from tenure.payments import inbox
from tenure.payments.signatures import SignatureError, verify_adyen_item, verify_stripe

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WebhookSecrets:
    stripe: tuple[str, ...] = ()
    stripe_tolerance: int = 300
    adyen: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "WebhookSecrets(<hidden>)"


class WebhookRejected(DomainError):
    code = "invalid_signature"
    http_status = 400


class WebhooksNotConfigured(DomainError):
    code = "webhooks_not_configured"
    http_status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=60)


class StripeWebhookAck(msgspec.Struct):
    received: bool
    event: str
    duplicate: bool


def _secrets(request: Request[Any, Any, Any]) -> WebhookSecrets:
    found = getattr(request.app.state, "provider_webhooks", None)
    return found if isinstance(found, WebhookSecrets) else WebhookSecrets()


def _rejected(error: SignatureError, provider: str) -> DomainError:
    log.warning("provider_webhook.rejected", provider=provider, reason=error.code)
    if error.code == "not_configured":
        return WebhooksNotConfigured(str(error))
    return WebhookRejected(str(error), code=error.code)


@post(
    "/v1/providers/stripe/webhooks",
    status_code=200,
    tags=["provider webhooks"],
    summary="Stripe webhook endpoint (verified by Stripe-Signature)",
)
async def stripe_webhook(request: Request[Any, Any, Any], runtime: RuntimeDep) -> StripeWebhookAck:
    """Point a Stripe webhook endpoint here and set ``TENURE_STRIPE_WEBHOOK_SECRET`` (several,
    comma-separated, while a secret is rolled)."""
    body = await request.body()
    secrets = _secrets(request)
    try:
        verify_stripe(
            body,
            request.headers.get("stripe-signature"),
            secrets.stripe,
            now=time.time(),
            tolerance=secrets.stripe_tolerance,
        )
        event = inbox.parse_stripe(body)
    except SignatureError as error:
        raise _rejected(error, "stripe") from None
    except inbox.MalformedEvent as error:
        raise WebhookRejected(str(error), code="malformed_event") from None
    async with runtime.db.transaction() as session:
        new = await inbox.store(session, [event], at=datetime.now(UTC))
    await provider_events.process(runtime, new)
    return StripeWebhookAck(received=True, event=event.event_id, duplicate=not new)


@post(
    "/v1/providers/adyen/notifications",
    status_code=200,
    tags=["provider webhooks"],
    summary="Adyen standard notifications (HMAC of each item); answers [accepted]",
    media_type=MediaType.TEXT,
)
async def adyen_notifications(
    request: Request[Any, Any, Any], runtime: RuntimeDep
) -> Response[str]:
    """Point an Adyen standard webhook here with HMAC enabled and set
    ``TENURE_ADYEN_HMAC_KEY`` (hex; several, comma-separated, while a key is rotated)."""
    body = await request.body()
    keys = _secrets(request).adyen
    try:
        items = inbox.adyen_items(body)
        for item in items:
            verify_adyen_item(item, keys)
        events = [inbox.parse_adyen_item(item) for item in items]
    except SignatureError as error:
        raise _rejected(error, "adyen") from None
    except inbox.MalformedEvent as error:
        raise WebhookRejected(str(error), code="malformed_event") from None
    async with runtime.db.transaction() as session:
        new = await inbox.store(session, events, at=datetime.now(UTC))
    await provider_events.process(runtime, new)
    return Response(content="[accepted]", media_type=MediaType.TEXT, status_code=200)
