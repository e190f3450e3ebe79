"""Fake Stripe and Adyen servers on 127.0.0.1 for a test, and adapters pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tenure.db.engine import Database
from tenure.payments.fakes.adyen_fake import AdyenFake
from tenure.payments.fakes.server import FakeServer
from tenure.payments.fakes.stripe_fake import StripeFake
from tenure.payments.providers.adyen_adapter import AdyenConfig, AdyenProvider
from tenure.payments.providers.stripe_adapter import StripeConfig, StripeProvider

STRIPE_KEY = "sk_test_fake"
ADYEN_KEY = "adyen_test_key"
MERCHANT = "TenureTestECOM"
HMAC_KEY = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
# Shorter than the fakes' "timeout_after_charge" hold (HOLD): the adapter times out. Generous
# enough that a normal answer on a busy CI machine (load 10 on 2 cores) never times out.
TIMEOUT = 2.0
HOLD = 6.0


@contextmanager
def running(handler: Any) -> Iterator[FakeServer]:
    server = FakeServer(handler).start()
    try:
        yield server
    finally:
        server.stop()


def fault(server: FakeServer, **spec: Any) -> None:
    httpx.post(f"{server.url}/_fake/faults", json=spec, timeout=5).raise_for_status()


def stripe_provider(database: Database, server: FakeServer) -> StripeProvider:
    return StripeProvider(database, StripeConfig(STRIPE_KEY, api_base=server.url, timeout=TIMEOUT))


def adyen_provider(database: Database, server: FakeServer) -> AdyenProvider:
    return AdyenProvider(
        database,
        AdyenConfig(ADYEN_KEY, MERCHANT, checkout_url=f"{server.url}/v71", timeout=TIMEOUT),
    )


def new_stripe_fake(**kwargs: Any) -> StripeFake:
    return StripeFake(api_key=STRIPE_KEY, **kwargs)


def new_adyen_fake(**kwargs: Any) -> AdyenFake:
    return AdyenFake(api_key=ADYEN_KEY, merchant_account=MERCHANT, hmac_keys=[HMAC_KEY], **kwargs)
