"""`tenure check` on a database where the stores moved subscriptions and money: store invoices
are captured by the store (no payment attempts) and a store subscription may run beside a web
one, so the invariants hold there too."""

from __future__ import annotations

import asyncio

from tenure.ops.invariants import run_checks
from tests.http import test_stores_app_store as app_store
from tests.support.stores import Stores


async def test_check_is_clean_after_store_lifecycles(stores: Stores) -> None:
    # Subscribe, renew, grace, hold, recover, cancel, refund, expire (store money), and a
    # web subscription beside it.
    await app_store.test_subscribe_renew_grace_hold_recover_cancel_refund_expire(stores)
    web = await stores.api.customer(market="US")
    await stores.api.subscribe(web)
    await stores.run_worker()
    runtime = stores.api.client.app.state.runtime
    portal = stores.api.client.blocking_portal
    assert portal is not None
    results = await asyncio.to_thread(portal.call, run_checks, runtime)
    failed = [(r.check, r.violations[:3]) for r in results if not r.ok]
    assert not failed
