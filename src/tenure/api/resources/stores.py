"""Store subscriptions, store notifications, account tokens, and the webhook answers."""

from __future__ import annotations

from typing import Literal

from tenure.api.resources.base import Resource, at, ts
from tenure.api.resources.subscriptions import Subscription
from tenure.stores.records import Link, Notice


class StoreNotificationAck(Resource):
    """What a store's notification endpoint answers (2xx: the store stops retrying)."""

    received: bool
    notification: str  # Apple notificationUUID / Pub/Sub messageId
    duplicate: bool  # already stored: nothing was done again
    status: str  # processed | stale | ignored | unlinked | unmapped | pending
    note: str | None


class StoreSubscription(Resource):
    object: Literal["store_subscription"]
    id: str
    channel: str
    store_key: str  # Apple originalTransactionId; Google: the token chain's key
    environment: str
    customer: str
    product: str  # the store's product id
    state_as_of: str  # the store's signed time of the state shown
    acknowledgement: str | None  # Google: pending | acknowledged
    result: str  # what the reconciliation did: processed | stale
    note: str | None
    subscription: Subscription


class StoreNotification(Resource):
    object: Literal["store_notification"]
    id: int
    channel: str
    notification_id: str
    type: str
    subtype: str | None
    environment: str
    status: str
    note: str | None
    attempts: int
    signed_at: str
    received_at: str
    processed_at: str | None


class StoreNotificationList(Resource):
    object: Literal["list"]
    data: list[StoreNotification]
    has_more: bool
    next: int | None


class StoreAccountToken(Resource):
    object: Literal["store_account_token"]
    customer: str
    token: str  # a UUID: Apple appAccountToken / Google obfuscatedExternalAccountId


def store_subscription_of(
    link: Link, subscription: Subscription, *, result: str, note: str | None
) -> StoreSubscription:
    return StoreSubscription(
        object="store_subscription",
        id=link.id,
        channel=link.channel,
        store_key=link.store_key,
        environment=link.environment,
        customer=link.customer_id,
        product=link.product_id,
        state_as_of=at(link.state_as_of),
        acknowledgement=link.ack_state,
        result=result,
        note=note,
        subscription=subscription,
    )


def notification_of(row: Notice) -> StoreNotification:
    return StoreNotification(
        object="store_notification",
        id=row.pk,
        channel=row.channel,
        notification_id=row.notification_id,
        type=row.type,
        subtype=row.subtype,
        environment=row.environment,
        status=row.status,
        note=row.note,
        attempts=row.attempts,
        signed_at=at(row.signed_at),
        received_at=at(row.received_at),
        processed_at=ts(row.processed_at),
    )


def account_token_of(customer: str, token: str) -> StoreAccountToken:
    return StoreAccountToken(object="store_account_token", customer=customer, token=token)
