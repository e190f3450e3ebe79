"""Where a subscription was bought, and what that means for the actions Tenure may take on it.

A ``web`` subscription is Tenure's: it bills, retries, changes and cancels it. An ``app_store``
or ``google_play`` subscription is the store's: the store charges the customer, and only its
notifications move the subscription (``tenure.flows.stores``). Tenure shows it with the same
statuses, history and events, and refuses every billing action on it with 409
``managed_by_store`` and where the customer can manage it instead.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.kernel.errors import Conflict
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.record import Sub


class Channel(StrEnum):
    WEB = "web"
    APP_STORE = "app_store"
    GOOGLE_PLAY = "google_play"


STORES: Final = frozenset({Channel.APP_STORE, Channel.GOOGLE_PLAY})

# Where a customer manages a store subscription (Apple's and Google's documented deep links).
MANAGE_URLS: Final[dict[Channel, str]] = {
    Channel.APP_STORE: "https://apps.apple.com/account/subscriptions",
    Channel.GOOGLE_PLAY: "https://play.google.com/store/account/subscriptions",
}
_STORE_NAMES: Final = {Channel.APP_STORE: "the App Store", Channel.GOOGLE_PLAY: "Google Play"}


class ManagedByStore(Conflict):
    code = "managed_by_store"


def refuse_store(channel: str, subscription_id: str, action: str) -> None:
    """Raise :class:`ManagedByStore` unless the subscription is billed by Tenure (``web``)."""
    if channel == Channel.WEB:
        return
    store = Channel(channel)
    raise ManagedByStore(
        f"{subscription_id} is billed by {_STORE_NAMES[store]}; Tenure cannot {action} it. "
        f"The customer manages it in the store: {MANAGE_URLS[store]}",
        subscription=subscription_id,
        channel=store.value,
        manage_url=MANAGE_URLS[store],
    )


def require_web(sub: Sub, action: str) -> None:
    refuse_store(sub.channel, sub.id, action)


async def require_web_invoice(
    session: AsyncSession, subscription_id: str | None, action: str
) -> None:
    """The same refusal for an action on an invoice of a store subscription."""
    if subscription_id is None:
        return
    channel = await session.scalar(
        select(Subscription.channel).where(Subscription.id == subscription_id)
    )
    if channel is not None:
        refuse_store(channel, subscription_id, action)
