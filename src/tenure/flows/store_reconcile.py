"""Reconciliation: ask a store's API where a subscription is, and record every transaction.

On request (``POST /v1/stores/app_store/reconcile``, ``.../google_play/reconcile``: also how
an app links a purchase to a customer when the purchase carries no account token), and by the
worker for store subscriptions the store should have told us about by now (a renewal, the end
of grace: a missed notification). The answer is applied like a notification, as of the
store's signed time, so a notification delivered later with an older time changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import structlog

from tenure.flows import stores
from tenure.flows.runtime import Runtime
from tenure.flows.store_sync import (
    LinkedElsewhere,
    StoreApiUnavailable,
    StoreNotConfigured,
    StorePurchaseNotFound,
    acknowledge,
    apply_google,
    process,
    wall_now,
)
from tenure.flows.unit import UnitOfWork
from tenure.stores import records
from tenure.stores.app_store import facts_of_status, txn_facts
from tenure.stores.errors import PurchaseNotFound, StoreUnavailable
from tenure.stores.google_play import token_hash
from tenure.subscriptions.channels import Channel

log = structlog.get_logger(__name__)


async def _check_customer(
    runtime: Runtime, channel: Channel, key: str, customer: str | None
) -> None:
    if customer is None:
        return
    async with runtime.db.read() as session:
        link = await records.link_by_key(session, channel.value, key)
    if link is not None and link.customer_id != customer:
        raise LinkedElsewhere(
            f"this {channel.value} subscription belongs to another customer",
            subscription=link.subscription_id,
        )


async def reconcile_app_store(
    runtime: Runtime, *, original_transaction_id: str, customer_id: str | None
) -> stores.Applied:
    """The App Store's current status and transaction history for one subscription."""
    api, verifier = runtime.stores.apple_api, runtime.stores.apple
    if api is None or verifier is None:
        raise StoreNotConfigured(
            "the App Store Server API is not configured (TENURE_APP_STORE_API_KEY, "
            "TENURE_APP_STORE_API_KEY_ID, TENURE_APP_STORE_API_ISSUER_ID)"
        )
    await _check_customer(runtime, Channel.APP_STORE, original_transaction_id, customer_id)
    try:
        statuses = await api.statuses(original_transaction_id)
        history = await api.history(original_transaction_id)
    except PurchaseNotFound as error:
        raise StorePurchaseNotFound(
            f"the App Store does not know transaction {original_transaction_id!r}"
        ) from error
    except StoreUnavailable as error:
        raise StoreApiUnavailable(str(error)) from None
    verified = []
    for item in statuses:
        txn = await asyncio.to_thread(verifier.transaction, item.signed_transaction)
        renewal = (
            await asyncio.to_thread(verifier.renewal, item.signed_renewal)
            if item.signed_renewal
            else None
        )
        verified.append((item.status, txn, renewal))
    mine = [v for v in verified if v[1].original_transaction_id == original_transaction_id]
    if not mine and len(verified) == 1:
        mine = verified  # asked with another transaction id of the same subscription
    if not mine:
        raise StorePurchaseNotFound(
            f"no auto-renewable subscription with transaction {original_transaction_id!r}"
        )
    status, txn, renewal = mine[0]
    past = [await asyncio.to_thread(verifier.transaction, signed) for signed in history]
    own = [t for t in past if t.original_transaction_id == txn.original_transaction_id]
    facts = facts_of_status(status, txn, renewal, environment=verifier.environment)
    by_id = {t.transaction_id: txn_facts(t) for t in [*own, txn]}
    refunded = tuple(t.transaction_id for t in own if t.revocation_date is not None)
    facts = replace(
        facts,
        transactions=tuple(sorted(by_id.values(), key=lambda t: t.purchased_at)),
        refunds=tuple(dict.fromkeys([*facts.refunds, *refunded])),
    )
    async with runtime.db.transaction() as session:
        uow = UnitOfWork(runtime, session, "store:app_store")
        applied = await stores.apply(runtime, uow, facts, customer_id=customer_id)
        await uow.flush()
    return applied


async def reconcile_google_play(
    runtime: Runtime, *, purchase_token: str, customer_id: str | None
) -> stores.Applied:
    play = runtime.stores.play
    if play is None:
        raise StoreNotConfigured(
            "the Play Developer API is not configured (TENURE_GOOGLE_PLAY_PACKAGE_NAME, "
            "TENURE_GOOGLE_PLAY_SERVICE_ACCOUNT)"
        )
    async with runtime.db.read() as session:
        own = await records.token_row(session, token_hash(purchase_token))
        link = await records.link_by_id(session, own.store_subscription_id) if own else None
    if link is not None and customer_id is not None and link.customer_id != customer_id:
        raise LinkedElsewhere(
            "this Google Play subscription belongs to another customer",
            subscription=link.subscription_id,
        )
    try:
        purchase = await play.subscription(purchase_token)
    except PurchaseNotFound as error:
        raise StorePurchaseNotFound("Google Play does not know this purchase token") from error
    except StoreUnavailable as error:
        raise StoreApiUnavailable(str(error)) from None
    applied = await apply_google(
        runtime,
        purchase_token,
        purchase,
        notification_type=None,
        as_of=wall_now(),
        customer_id=customer_id,
    )
    if applied is None:
        raise StorePurchaseNotFound("the purchase is not a subscription Tenure can show")
    return applied


# --- the worker's steps --------------------------------------------------------------------------


async def process_pending(runtime: Runtime, *, limit: int = 100) -> int:
    async with runtime.db.read() as session:
        pks = await records.due_notices(session, now=wall_now(), limit=limit)
    for pk in pks:
        await process(runtime, pk)
    return len(pks)


async def acknowledge_pending(runtime: Runtime, *, limit: int = 100) -> int:
    if runtime.stores.play is None:
        return 0
    async with runtime.db.read() as session:
        links = await records.pending_acks(session, limit=limit)
    done = 0
    for link in links:
        done += await acknowledge(runtime, link.id)
    return done


async def check_missed(runtime: Runtime, *, limit: int = 50) -> int:
    """Ask the store about subscriptions it should have told us about by now."""
    async with runtime.db.read() as session:
        due = await records.due_checks(session, now=wall_now(), limit=limit)
    checked = 0
    for link in due:
        try:
            if link.channel == Channel.APP_STORE and runtime.stores.apple_api is not None:
                await reconcile_app_store(
                    runtime, original_transaction_id=link.store_key, customer_id=None
                )
            elif link.channel == Channel.GOOGLE_PLAY and runtime.stores.play is not None:
                await _reconcile_google_link(runtime, link)
            else:
                await _postpone(link.id, runtime, timedelta(days=1))
                log.warning("store.reconcile_unavailable", channel=link.channel, link=link.id)
                continue
            checked += 1
        except Exception as error:
            # No traceback: its frames hold purchase tokens, which never reach a log line.
            reason = f"{type(error).__name__}: {str(error)[:200]}"
            log.error("store.reconcile_failed", link=link.id, error=reason)
            await _postpone(link.id, runtime, timedelta(hours=1))
            continue
        await _postpone_if_unchanged(runtime, link)
    return checked


async def _reconcile_google_link(runtime: Runtime, link: records.Link) -> None:
    async with runtime.db.read() as session:
        token = await records.token_row(session, link.token_hash) if link.token_hash else None
    if token is None:
        await _postpone(link.id, runtime, timedelta(days=1))
        return
    await reconcile_google_play(runtime, purchase_token=token.token, customer_id=None)


async def _postpone_if_unchanged(runtime: Runtime, before: records.Link) -> None:
    """The store had nothing new: ask again later rather than on every pass."""
    async with runtime.db.read() as session:
        after = await records.link_by_id(session, before.id)
    if after is not None and after.check_after is not None and after.check_after <= wall_now():
        await _postpone(before.id, runtime, timedelta(hours=6))


async def _postpone(link_id: str, runtime: Runtime, delay: timedelta) -> None:
    async with runtime.db.transaction() as session:
        link = await records.link_by_id(session, link_id, for_update=True)
        if link is not None:
            link.check_after = wall_now() + delay
            await records.save_link(session, link)
