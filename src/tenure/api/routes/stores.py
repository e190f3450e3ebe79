"""App Store and Google Play: notifications in, reconciliation, account tokens, the inbox.

The two notification routes are public (no API key; the gate lets them through): Apple's
signature, or Pub/Sub's OIDC token, is the authentication. Anything that fails it answers 401
problem+json, is logged, and stores nothing. docs/stores.md.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from tenure.api.deps import RuntimeDep, check_id, one_of, page_limit
from tenure.api.openapi import problems
from tenure.api.resources.stores import (
    StoreAccountToken,
    StoreNotificationAck,
    StoreNotificationList,
    StoreSubscription,
    account_token_of,
    notification_of,
    store_subscription_of,
)
from tenure.api.resources.subscriptions import subscription_of
from tenure.customers import service as customers
from tenure.flows import store_reconcile, store_sync
from tenure.flows.runtime import Runtime
from tenure.flows.stores import Applied
from tenure.kernel.errors import BadRequest, Conflict, InvalidRequest, NotFound, Unauthorized
from tenure.stores import records
from tenure.stores.app_store import VerificationRefused
from tenure.stores.google_play import MalformedPush, PushRefused, parse_push
from tenure.subscriptions import record as subs
from tenure.subscriptions.channels import Channel

log = structlog.get_logger(__name__)

_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=_PRINTABLE)]
TransactionId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[0-9]+$")]
CustomerId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_PRINTABLE)]
_NOT_CONFIGURED = (503, "store_not_configured store_unavailable")


class AppStoreNotificationBody(msgspec.Struct, forbid_unknown_fields=True):
    signedPayload: Annotated[str, msgspec.Meta(min_length=1, max_length=65536)]


class AppStoreReconcile(msgspec.Struct, forbid_unknown_fields=True):
    original_transaction_id: TransactionId
    customer: CustomerId | None = None  # link a purchase that carries no appAccountToken


class GooglePlayReconcile(msgspec.Struct, forbid_unknown_fields=True):
    purchase_token: Token
    customer: CustomerId | None = None  # link a purchase that carries no account id


class NotificationRefused(Unauthorized):
    code = "invalid_signature"


def _ack(received: store_sync.Received) -> StoreNotificationAck:
    return StoreNotificationAck(
        received=True,
        notification=received.notification,
        duplicate=received.duplicate,
        status=received.status,
        note=received.note,
    )


@post(
    "/v1/stores/app_store/notifications",
    status_code=200,
    tags=["stores"],
    summary="App Store Server Notifications V2 (verified with Apple's library)",
    responses=problems(
        (400, "malformed_notification"), (401, "invalid_signature"), (503, "store_not_configured")
    ),
)
async def app_store_notifications(
    data: JSONBody[AppStoreNotificationBody], runtime: RuntimeDep
) -> StoreNotificationAck:
    """Set this URL as the App Store Server Notifications V2 URL in App Store Connect (one
    for Production, one for Sandbox, each a Tenure with the matching environment)."""
    verifier = runtime.stores.apple
    if verifier is None:
        raise store_sync.StoreNotConfigured(
            "the App Store is not configured (TENURE_APP_STORE_BUNDLE_ID)"
        )
    try:
        notice = await asyncio.to_thread(verifier.notice, data.signedPayload)
    except VerificationRefused as error:
        log.warning("app_store.notification_refused", reason=error.status)
        raise NotificationRefused(
            f"the signed payload did not verify ({error.status}); nothing was stored"
        ) from None
    return _ack(await store_sync.receive_app_store(runtime, notice))


@post(
    "/v1/stores/google_play/notifications",
    status_code=200,
    tags=["stores"],
    summary="Google Play real-time developer notifications (Pub/Sub push)",
    responses=problems(
        (400, "malformed_notification"), (401, "invalid_signature"), (503, "store_not_configured")
    ),
)
async def google_play_notifications(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    token: FromQuery[str | None] = None,
) -> StoreNotificationAck:
    """Point a Pub/Sub push subscription of the RTDN topic here, with authentication (an
    OIDC token for ``TENURE_GOOGLE_PLAY_PUSH_AUDIENCE``) or, locally, ``?token=`` set to
    ``TENURE_GOOGLE_PLAY_PUSH_TOKEN``."""
    push = runtime.stores.push
    if push is None or not push.configured:
        raise store_sync.StoreNotConfigured(
            "Google Play is not configured (TENURE_GOOGLE_PLAY_PACKAGE_NAME and a push "
            "audience or token)"
        )
    try:
        how = await push.check(request.headers.get("authorization"), token)
    except PushRefused as error:
        log.warning("google_play.push_refused", reason=str(error))
        raise NotificationRefused(f"{error}; nothing was stored") from None
    try:
        notice = parse_push(await request.body())
    except MalformedPush as error:
        raise BadRequest(str(error), code="malformed_notification") from None
    if notice.package_name != runtime.stores.settings.google_play_package_name:
        log.warning("google_play.push_refused", reason="package", auth=how)
        raise NotificationRefused("the notification is for another app; nothing was stored")
    return _ack(await store_sync.receive_google_play(runtime, notice))


async def _store_subscription(runtime: Runtime, applied: Applied) -> StoreSubscription:
    if applied.link is None or applied.subscription_id is None:
        raise Conflict(
            applied.note or "the store's answer could not be shown as a subscription",
            code=f"store_subscription_{applied.status}",
        )
    async with runtime.db.read() as session:
        link = await records.link_by_id(session, applied.link.id)
        sub = await subs.load_one(session, applied.subscription_id, for_update=False)
    assert link is not None and sub is not None
    return store_subscription_of(
        link, subscription_of(sub), result=applied.status, note=applied.note
    )


async def _customer(runtime: Runtime, customer: str | None) -> None:
    if customer is not None:
        check_id(customer, "cus", "customer")
        async with runtime.db.read() as session:
            await customers.get(session, customer)


_RECONCILE_PROBLEMS = problems(
    (404, "customer_not_found store_purchase_not_found"),
    (
        409,
        "store_subscription_linked_elsewhere store_subscription_unlinked "
        "store_subscription_unmapped",
    ),
    _NOT_CONFIGURED,
)


@post(
    "/v1/stores/app_store/reconcile",
    status_code=200,
    tags=["stores"],
    summary="Read an App Store subscription from Apple now (and link it to a customer)",
    responses=_RECONCILE_PROBLEMS,
)
async def app_store_reconcile(
    data: JSONBody[AppStoreReconcile], runtime: RuntimeDep
) -> StoreSubscription:
    """Asks the App Store Server API for the subscription's status and transaction history
    and applies them (a missed notification is recovered; money is recorded once)."""
    await _customer(runtime, data.customer)
    applied = await store_reconcile.reconcile_app_store(
        runtime, original_transaction_id=data.original_transaction_id, customer_id=data.customer
    )
    return await _store_subscription(runtime, applied)


@post(
    "/v1/stores/google_play/reconcile",
    status_code=200,
    tags=["stores"],
    summary="Read a Google Play subscription from Google now (and link it to a customer)",
    responses=_RECONCILE_PROBLEMS,
)
async def google_play_reconcile(
    data: JSONBody[GooglePlayReconcile], runtime: RuntimeDep
) -> StoreSubscription:
    """Calls ``purchases.subscriptionsv2.get`` for the token and applies the answer."""
    await _customer(runtime, data.customer)
    applied = await store_reconcile.reconcile_google_play(
        runtime, purchase_token=data.purchase_token, customer_id=data.customer
    )
    return await _store_subscription(runtime, applied)


@post(
    "/v1/customers/{customer_id:str}/store_account_token",
    status_code=200,
    tags=["stores"],
    summary="The customer's token for appAccountToken / obfuscatedExternalAccountId",
    responses=problems((404, "customer_not_found")),
)
async def store_account_token(customer_id: FromPath[str], runtime: RuntimeDep) -> StoreAccountToken:
    """One token per customer (the same one every time): pass it to StoreKit as
    ``appAccountToken`` or to Play Billing as ``obfuscatedAccountId`` so the store's
    notifications name the customer."""
    check_id(customer_id, "cus", "customer")
    async with runtime.db.transaction() as session:
        await customers.get(session, customer_id)
        token = await records.account_token(session, customer_id, at=runtime.clock.now())
    return account_token_of(customer_id, token)


# What a stored notification's ``status`` can be (stores/models.py StoreNotification).
NOTICE_STATUSES = (
    "pending",
    "processed",
    "stale",
    "ignored",
    "unlinked",
    "unmapped",
    "superseded",
)


@get(
    "/v1/stores/notifications",
    tags=["stores"],
    summary="The store notification inbox (for operators: what came in and what it did)",
    responses=problems((422, "invalid_limit invalid_channel")),
)
async def list_store_notifications(
    runtime: RuntimeDep,
    channel: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
    starting_after: FromQuery[int | None] = None,
) -> StoreNotificationList:
    size = page_limit(limit)
    if channel is not None and channel not in (Channel.APP_STORE, Channel.GOOGLE_PLAY):
        raise InvalidRequest("channel is app_store or google_play", code="invalid_channel")
    one_of(status, NOTICE_STATUSES, "status")
    async with runtime.db.read() as session:
        rows = await records.search_notices(
            session,
            channel=channel,
            status=status,
            store_key=None,
            after=starting_after,
            limit=size + 1,
        )
    data = [notification_of(row) for row in rows[:size]]
    more = len(rows) > size
    return StoreNotificationList(
        object="list", data=data, has_more=more, next=data[-1].id if more and data else None
    )


@post(
    "/v1/stores/notifications/{notification_id:int}/replay",
    status_code=200,
    tags=["stores"],
    summary="Process a stored notification again (after fixing a product map or a link)",
    responses=problems(
        (404, "store_notification_not_found"), (409, "store_notification_already_processed")
    ),
)
async def replay_store_notification(
    notification_id: FromPath[int], runtime: RuntimeDep
) -> StoreNotificationAck:
    """Only notifications that did not change a subscription (unlinked, unmapped, stale,
    ignored, pending) can be replayed; a processed one answers 409 and changes nothing."""
    async with runtime.db.transaction() as session:
        # Beyond the 64-bit key no row exists (and the driver refuses to send it).
        fits = 0 < notification_id < 2**63
        row = await records.notice(session, notification_id, for_update=True) if fits else None
        if row is None:
            raise NotFound(
                f"no store notification {notification_id}", code="store_notification_not_found"
            )
        if row.status == "processed":
            raise Conflict(
                f"store notification {notification_id} was processed; replaying it would "
                "change nothing",
                code="store_notification_already_processed",
            )
        await records.reopen_notice(session, notification_id)
    await store_sync.process(runtime, notification_id)
    async with runtime.db.read() as session:
        done = await records.notice(session, notification_id)
    assert done is not None
    return StoreNotificationAck(
        received=True,
        notification=done.notification_id,
        duplicate=False,
        status=done.status,
        note=done.note,
    )


ROUTES = [
    app_store_notifications,
    google_play_notifications,
    app_store_reconcile,
    google_play_reconcile,
    store_account_token,
    list_store_notifications,
    replay_store_notification,
]
