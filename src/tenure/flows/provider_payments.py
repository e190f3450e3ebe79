"""Payment outcomes from provider webhooks: the asynchronous half of a charge.

A charge the provider decides later (Stripe ``processing``, Adyen ``Received``/``Pending``), or
one whose answer was lost (timeout, crash), leaves its attempt ``pending``. The provider's
webhook (Stripe ``payment_intent.succeeded|payment_failed|canceled``, Adyen ``AUTHORISATION``)
names the attempt by its idempotency key (Stripe ``metadata[tenure_idempotency_key]``; Adyen
``merchantReference``) and is recorded through the very path a synchronous answer takes
(:func:`tenure.flows.collect.record_in`): the attempt, the cash on the invoice, and the handler
registered for the invoice's billing reason. An attempt already recorded (by the caller, the
recovery sweep, or an earlier delivery) changes nothing.

Strong customer authentication: a first payment (or a pay) that needs 3-D Secure waits in
``requires_action``; once the customer authenticated, the provider's ``succeeded`` /
``payment_failed`` (Adyen ``AUTHORISATION``) settles it here. Stripe's
``payment_intent.requires_action`` is handled the same way (an attempt whose answer was lost
learns that it waits).
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.flows.collect import Outcome, record_in
from tenure.flows.provider_events import Outcome as InboxOutcome
from tenure.flows.runtime import Runtime
from tenure.payments import attempts
from tenure.payments.attempts import OPEN_STATUSES, AttemptStatus
from tenure.payments.inbox import InboxEvent, InboxStatus
from tenure.payments.ports import ChargeResult, ChargeStatus
from tenure.payments.providers.adyen_adapter import result_of_notification
from tenure.payments.providers.stripe_adapter import result_of_event

log = structlog.get_logger(__name__)


def _stripe_object(event: InboxEvent) -> dict[str, Any]:
    obj = (event.payload.get("data") or {}).get("object") or {}
    return obj if isinstance(obj, dict) else {}


def charge_of(event: InboxEvent) -> tuple[str | None, ChargeResult | None]:
    """(the attempt's idempotency key, the outcome) an event reports; None outcome: undecided."""
    if event.provider == "stripe":
        return result_of_event(_stripe_object(event))
    if event.type != "AUTHORISATION":
        return None, None
    key = str(event.payload.get("merchantReference") or "") or None
    return key, result_of_notification(event.payload)


async def payment_outcome(
    runtime: Runtime, session: AsyncSession, event: InboxEvent
) -> InboxOutcome:
    key, result = charge_of(event)
    if key is None:
        return InboxStatus.IGNORED, "not a payment Tenure made (no idempotency key)"
    if result is None:
        return InboxStatus.IGNORED, "the provider has not decided yet (processing)"
    attempt = await attempts.by_key(session, key)
    if attempt is None:
        return InboxStatus.IGNORED, "no attempt with this key"
    if attempt.status not in OPEN_STATUSES:
        if (attempt.status.value == "succeeded") != (result.status is ChargeStatus.SUCCEEDED):
            # The provider says otherwise than what was recorded: someone must look.
            log.error(
                "payment.outcome_contradicts",
                attempt=attempt.id,
                recorded=attempt.status.value,
                reported=result.status.value,
                event=event.event_id,
            )
        return InboxStatus.IGNORED, f"attempt {attempt.id} already {attempt.status.value}"
    if attempt.status is AttemptStatus.REQUIRES_ACTION and attempt.awaits_action(result):
        return InboxStatus.IGNORED, f"attempt {attempt.id} still waits for authentication"
    actor = f"provider:{event.provider}"
    done = await record_in(
        runtime, session, [Outcome(attempt.id, attempt.invoice_id, result)], actor=actor
    )
    if done == 0:
        return InboxStatus.IGNORED, f"attempt {attempt.id} recorded meanwhile"
    return InboxStatus.PROCESSED, f"attempt {attempt.id} {result.status.value}"
