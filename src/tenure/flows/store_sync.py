"""Store notifications in, exactly once; reconciliation with the stores' APIs.

Receiving (the routes): the notification is verified first (App Store: Apple's library;
Google Play: the push's OIDC token), refused with nothing stored if that fails, then stored
in the inbox with its store id unique (a duplicate or replay stores nothing and changes
nothing), committed, and processed: each in its own transaction with its inbox row locked,
through :func:`tenure.flows.stores.apply`. A store API is never called inside a transaction:
Google's purchase is fetched first, its acknowledgement sent after commit.

A notification that cannot be processed now (the Play API is down, a bug) stays ``pending``
and the worker retries it with back-off (:func:`process_pending`). Reconciliation asks the
store's API for the current state and every transaction: on request
(``POST /v1/stores/{store}/reconcile``) and, for a store subscription the store should have
told us about by now, by the worker (:func:`check_missed`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import structlog

from tenure.flows import stores
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.errors import Conflict, DomainError, NotFound
from tenure.stores import records
from tenure.stores.app_store import (
    AppleNotice,
    facts_of_notice,
)
from tenure.stores.errors import PurchaseNotFound, StoreUnavailable
from tenure.stores.facts import Happened, StoreFacts
from tenure.stores.google_play import (
    GoogleNotice,
    facts_of_purchase,
    needs_acknowledgement,
    token_hash,
)
from tenure.stores.records import Link
from tenure.subscriptions.channels import Channel
from tenure.subscriptions.state import Status

log = structlog.get_logger(__name__)

ACK_WINDOW: Final = timedelta(days=3)  # Google refunds purchases not acknowledged by then
PENDING: Final = "pending"
IGNORED: Final = "ignored"


class StoreNotConfigured(DomainError):
    code = "store_not_configured"
    http_status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=300)


class StoreApiUnavailable(DomainError):
    code = "store_unavailable"
    http_status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=30)


class StorePurchaseNotFound(NotFound):
    code = "store_purchase_not_found"


class LinkedElsewhere(Conflict):
    code = "store_subscription_linked_elsewhere"


@dataclass(frozen=True, slots=True)
class Received:
    notification: str
    duplicate: bool
    status: str
    note: str | None


def wall_now() -> datetime:
    return datetime.now(UTC)


# --- App Store ---------------------------------------------------------------------------------


async def receive_app_store(runtime: Runtime, notice: AppleNotice) -> Received:
    """Store a verified notification once and process it."""
    found = facts_of_notice(notice)
    ignored = isinstance(found, str)
    store_key = None
    if notice.transaction is not None:
        store_key = notice.transaction.original_transaction_id
    values = {
        "channel": Channel.APP_STORE.value,
        "notification_id": notice.notification_uuid,
        "type": notice.type[:64],
        "subtype": None if notice.subtype is None else notice.subtype[:64],
        "environment": notice.environment[:16],
        "store_key": store_key,
        "signed_at": datetime.fromtimestamp(notice.signed_date / 1000, UTC),
        "payload": msgspec.to_builtins(notice),
    }
    return await _receive(
        runtime, values, ignored_note=found if isinstance(found, str) else None, ignored=ignored
    )


async def _receive(
    runtime: Runtime, values: dict[str, Any], *, ignored_note: str | None, ignored: bool
) -> Received:
    wall = wall_now()
    async with runtime.db.transaction() as session:
        pk = await records.store_notice(
            session,
            {
                **values,
                "received_at": wall,
                "status": IGNORED if ignored else PENDING,
                "note": None if ignored_note is None else ignored_note[:200],
                "attempts": 0,
                "next_attempt_at": None,
                "processed_at": wall if ignored else None,
            },
        )
    if pk is None:
        async with runtime.db.read() as session:
            known = await records.notice_by_id(
                session, values["channel"], values["notification_id"]
            )
        status = known.status if known else "unknown"
        return Received(values["notification_id"], True, status, known.note if known else None)
    if not ignored:
        await process(runtime, pk)
    async with runtime.db.read() as session:
        stored = await records.notice(session, pk)
    assert stored is not None
    return Received(values["notification_id"], False, stored.status, stored.note)


# --- Google Play -------------------------------------------------------------------------------

_GOOGLE_TYPES: Final = {
    1: "SUBSCRIPTION_RECOVERED",
    2: "SUBSCRIPTION_RENEWED",
    3: "SUBSCRIPTION_CANCELED",
    4: "SUBSCRIPTION_PURCHASED",
    5: "SUBSCRIPTION_ON_HOLD",
    6: "SUBSCRIPTION_IN_GRACE_PERIOD",
    7: "SUBSCRIPTION_RESTARTED",
    8: "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",
    9: "SUBSCRIPTION_DEFERRED",
    10: "SUBSCRIPTION_PAUSED",
    11: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
    12: "SUBSCRIPTION_REVOKED",
    13: "SUBSCRIPTION_EXPIRED",
    17: "SUBSCRIPTION_ITEMS_CHANGED",
    18: "SUBSCRIPTION_CANCELLATION_SCHEDULED",
    19: "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
    20: "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
}


def google_type(notice: GoogleNotice) -> str:
    if notice.kind == "subscription":
        code = notice.notification_type or 0
        return _GOOGLE_TYPES.get(code, f"SUBSCRIPTION_{code}")
    return {"voided": "VOIDED_PURCHASE", "test": "TEST", "one_time": "ONE_TIME_PRODUCT"}.get(
        notice.kind, "UNKNOWN"
    )


async def receive_google_play(runtime: Runtime, notice: GoogleNotice) -> Received:
    ignored_note = None
    if notice.kind in ("test", "one_time", "unknown"):
        ignored_note = f"{google_type(notice)} does not change a subscription"
    elif notice.kind == "voided" and notice.product_type not in (None, 0, 1):
        ignored_note = "a voided one-time product, not a subscription"
    values = {
        "channel": Channel.GOOGLE_PLAY.value,
        "notification_id": notice.message_id[:128],
        "type": google_type(notice),
        "subtype": None,
        "environment": "Production",
        "store_key": notice.token_hash,
        "signed_at": datetime.fromtimestamp(notice.event_time / 1000, UTC),
        "payload": msgspec.to_builtins(notice),
    }
    return await _receive(
        runtime, values, ignored_note=ignored_note, ignored=ignored_note is not None
    )


# --- processing --------------------------------------------------------------------------------


async def process(runtime: Runtime, pk: int) -> None:
    """Process one pending inbox row; a failure leaves it pending for the worker (back-off)."""
    try:
        async with runtime.db.read() as session:
            row = await records.notice(session, pk)
        if row is None or row.status != PENDING:
            return
        if row.channel == Channel.APP_STORE:
            notice = msgspec.convert(row.payload, AppleNotice)
            facts = facts_of_notice(notice)
            await _apply_stored(runtime, pk, facts)
        else:
            await _process_google(runtime, pk, msgspec.convert(row.payload, GoogleNotice))
    except StoreUnavailable as error:
        await _retry_later(runtime, pk, str(error))
    except Exception as error:
        # No traceback: its frames hold purchase tokens, which never reach a log line.
        log.error("store_notification.failed", pk=pk, error=_described(error))
        await _retry_later(runtime, pk, f"failed: {type(error).__name__}")


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:200]}"


async def _retry_later(runtime: Runtime, pk: int, note: str) -> None:
    async with runtime.db.transaction() as session:
        await records.retry_later(session, pk, note=note, at=wall_now())


async def _apply_stored(
    runtime: Runtime, pk: int, facts: StoreFacts | str, **hints: Any
) -> stores.Applied | None:
    async with runtime.db.transaction() as session:
        row = await records.notice(session, pk, for_update=True)
        if row is None or row.status != PENDING:
            return None
        if isinstance(facts, str):
            await records.finish_notice(session, pk, status=IGNORED, note=facts, at=wall_now())
            return None
        uow = UnitOfWork(runtime, session, f"store:{facts.channel.value}")
        applied = await stores.apply(runtime, uow, facts, **hints)
        await uow.flush()
        await records.finish_notice(
            session, pk, status=applied.status, note=applied.note, at=wall_now()
        )
    log.info(
        "store_notification.processed",
        channel=facts.channel.value,
        type=row.type,
        status=applied.status,
        subscription=applied.subscription_id,
    )
    return applied


async def _chain(
    runtime: Runtime, token: str, purchase: dict[str, Any]
) -> tuple[Link | None, bool]:
    """The store subscription of a Google token: its own, or the one its
    ``linkedPurchaseToken`` belongs to (an upgrade or resubscribe continues it); and whether
    the token was replaced by a newer one of the chain."""
    async with runtime.db.read() as session:
        own = await records.token_row(session, token_hash(token))
        if own is not None:
            link = await records.link_by_id(session, own.store_subscription_id)
            return link, own.superseded_at is not None
        linked = purchase.get("linkedPurchaseToken")
        if linked:
            previous = await records.token_row(session, token_hash(str(linked)))
            if previous is not None:
                return await records.link_by_id(session, previous.store_subscription_id), False
    return None, False


async def _process_google(runtime: Runtime, pk: int, notice: GoogleNotice) -> None:
    play = runtime.stores.play
    if notice.kind not in ("subscription", "voided") or notice.purchase_token is None:
        async with runtime.db.transaction() as session:
            note = f"{google_type(notice)} does not change a subscription"
            await records.finish_notice(session, pk, status=IGNORED, note=note, at=wall_now())
        return
    if play is None:
        await _retry_later(runtime, pk, "the Play Developer API is not configured")
        return
    try:
        purchase = await play.subscription(notice.purchase_token)
    except PurchaseNotFound as error:
        async with runtime.db.transaction() as session:
            await records.finish_notice(session, pk, status=IGNORED, note=str(error), at=wall_now())
        return
    # A Play notification carries only the token: the state is what the API answered just now,
    # so it is as new as the fetch, not as old as the notification. (A reconciliation that ran
    # between the event and its processing must not make the fresher answer look stale.)
    sent = datetime.fromtimestamp(notice.event_time / 1000, UTC)
    await apply_google(
        runtime,
        notice.purchase_token,
        purchase,
        notification_type=notice.notification_type,
        as_of=max(sent, wall_now()),
        pk=pk,
        voided_order=notice.order_id if notice.kind == "voided" else None,
    )


async def apply_google(
    runtime: Runtime,
    token: str,
    purchase: dict[str, Any],
    *,
    notification_type: int | None,
    as_of: datetime,
    pk: int | None = None,
    voided_order: str | None = None,
    customer_id: str | None = None,
) -> stores.Applied | None:
    link, superseded = await _chain(runtime, token, purchase)
    digest = token_hash(token)
    facts = facts_of_purchase(
        purchase,
        store_key=link.store_key if link else digest,
        notification_type=notification_type,
        as_of=as_of,
    )
    if not isinstance(facts, str):
        if voided_order:
            facts = replace(facts, refunds=(voided_order,), happened=Happened.REFUNDED)
            if facts.status is Status.EXPIRED:  # refunded and revoked: ended now, not at expiry
                facts = replace(facts, status=Status.CANCELED, ended_reason="refunded")
        if superseded:
            # An older token of an upgraded or resubscribed chain: its money still counts, its
            # state does not (the newer token says where the subscription is).
            facts = replace(
                facts, status=None, auto_renew=None, as_of=datetime.min.replace(tzinfo=UTC)
            )
    applied = await _transact_google(runtime, token, purchase, facts, link, pk, customer_id)
    if applied is not None and applied.link is not None and applied.link.ack_state == "pending":
        await acknowledge(runtime, applied.link.id)
    return applied


async def _transact_google(
    runtime: Runtime,
    token: str,
    purchase: dict[str, Any],
    facts: StoreFacts | str,
    link: Link | None,
    pk: int | None,
    customer_id: str | None,
) -> stores.Applied | None:
    wall = wall_now()
    async with runtime.db.transaction() as session:
        if pk is not None:
            row = await records.notice(session, pk, for_update=True)
            if row is None or row.status != PENDING:
                return None
        if isinstance(facts, str):
            if pk is not None:
                await records.finish_notice(session, pk, status=IGNORED, note=facts, at=wall)
            return None
        if link is not None:
            link = await records.link_by_id(session, link.id, for_update=True)
        uow = UnitOfWork(runtime, session, "store:google_play")
        applied = await stores.apply(runtime, uow, facts, customer_id=customer_id, link=link)
        await uow.flush()
        if applied.link is not None:
            await _keep_token(session, applied.link, token, purchase, facts, at=wall)
        if pk is not None:
            await records.finish_notice(
                session, pk, status=applied.status, note=applied.note, at=wall
            )
    return applied


async def _keep_token(
    session: Any,
    link: Link,
    token: str,
    purchase: dict[str, Any],
    facts: StoreFacts,
    *,
    at: datetime,
) -> None:
    digest = token_hash(token)
    linked = purchase.get("linkedPurchaseToken")
    await records.add_token(
        session,
        token_hash=digest,
        token=token,
        link_id=link.id,
        linked_hash=token_hash(str(linked)) if linked else None,
        product_id=facts.product_id,
        at=at,
    )
    if facts.status is not None or link.token_hash is None:
        if link.token_hash != digest:
            await records.supersede_tokens(session, link.id, current=digest, at=at)
            link.token_hash = digest
        if needs_acknowledgement(purchase) and link.ack_state != "pending":
            link.ack_state = "pending"
            started = facts.period_start or facts.as_of
            link.ack_due_at = started + ACK_WINDOW
        await records.save_link(session, link)


async def acknowledge(runtime: Runtime, link_id: str) -> bool:
    """Acknowledge the chain's current purchase (after commit; Google refunds a purchase not
    acknowledged within three days). Idempotent: asked again, Google's state decides."""
    play = runtime.stores.play
    async with runtime.db.read() as session:
        link = await records.link_by_id(session, link_id)
        token = (
            await records.token_row(session, link.token_hash) if link and link.token_hash else None
        )
    if play is None or link is None or token is None or link.ack_state != "pending":
        return False
    try:
        purchase = await play.subscription(token.token)
        if purchase.get("acknowledgementState") == "ACKNOWLEDGEMENT_STATE_PENDING":
            await play.acknowledge(token.product_id, token.token)
    except (StoreUnavailable, PurchaseNotFound) as error:
        log.warning("google_play.acknowledge_failed", link=link_id, reason=str(error))
        return False
    async with runtime.db.transaction() as session:
        current = await records.link_by_id(session, link_id, for_update=True)
        if current is not None and current.ack_state == "pending":
            current.ack_state = "acknowledged"
            await records.save_link(session, current)
    return True
