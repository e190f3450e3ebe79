"""Per-market providers: a customer's new method goes to its market's provider, each charge to
the provider holding the method, a lookup to the provider the key went to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tenure.db.engine import Database
from tenure.flows import accounts
from tenure.flows.assembly import assemble
from tenure.flows.payment_methods import attach
from tenure.payments.ports import ChargeRequest, ChargeStatus
from tenure.payments.router import ProviderRouter
from tenure.payments.sandbox import SandboxProvider
from tests.integration.support import CATALOG
from tests.support.fakes import (
    adyen_provider,
    new_adyen_fake,
    new_stripe_fake,
    running,
    stripe_provider,
)


@pytest.fixture
def fakes() -> Iterator[tuple[Any, Any, Any, Any]]:
    stripe_fake, adyen_fake = new_stripe_fake(), new_adyen_fake()
    with running(stripe_fake) as stripe_server, running(adyen_fake) as adyen_server:
        yield stripe_fake, stripe_server, adyen_fake, adyen_server


async def test_markets_choose_the_provider_and_methods_keep_theirs(
    database: Database, fakes: tuple[Any, Any, Any, Any]
) -> None:
    stripe_fake, stripe_server, adyen_fake, adyen_server = fakes
    router = ProviderRouter(
        database,
        {
            "stripe": stripe_provider(database, stripe_server),
            "adyen": adyen_provider(database, adyen_server),
        },
        default="stripe",
        markets={"SE": "adyen"},
    )
    runtime = assemble(db=database, catalog=CATALOG, provider=router)
    se = await accounts.create_customer(
        runtime, external_id="u-se", email="se@example.com", market="SE", test_clock_id=None
    )
    us = await accounts.create_customer(
        runtime, external_id="u-us", email="us@example.com", market="US", test_clock_id=None
    )
    se_method = await attach(
        runtime, customer_id=se.id, token="8415000000000001", default=True, actor="t"
    )
    us_method = await attach(
        runtime, customer_id=us.id, token="pm_card_mastercard", default=True, actor="t"
    )
    assert se_method.method["card"]["last4"] == "1111"  # read from Adyen
    assert us_method.method["card"]["last4"] == "4444"  # read from Stripe

    paid_se = await router.charge(ChargeRequest("k-se", se.id, 100, "SEK", "8415000000000001", "x"))
    paid_us = await router.charge(
        ChargeRequest("k-us", us.id, 100, "USD", "pm_card_mastercard", "x")
    )
    assert (paid_se.provider, paid_us.provider) == ("adyen", "stripe")
    assert paid_se.status is paid_us.status is ChargeStatus.SUCCEEDED
    assert len(adyen_fake.payments) == 1 and len(stripe_fake.charges) == 1
    assert (await router.lookup("k-se")) == paid_se
    assert (await router.lookup("k-us")) is not None
    assert await router.lookup("k-none") is None
    await router.aclose()


async def test_a_method_held_by_an_unconfigured_provider_is_declined_not_rerouted(
    database: Database, fakes: tuple[Any, Any, Any, Any]
) -> None:
    stripe_fake, stripe_server, _, _ = fakes
    sandbox_runtime = assemble(db=database, catalog=CATALOG, provider=SandboxProvider(database))
    customer = await accounts.create_customer(
        sandbox_runtime, external_id="u-1", email="a@example.com", market="SE", test_clock_id=None
    )
    await attach(sandbox_runtime, customer_id=customer.id, token="pm_card_visa", default=True,
                 actor="t")  # fmt: skip
    router = ProviderRouter(
        database, {"stripe": stripe_provider(database, stripe_server)}, default="stripe"
    )
    result = await router.charge(ChargeRequest("k-1", customer.id, 100, "SEK", "pm_card_visa", "x"))
    assert result.status is ChargeStatus.DECLINED
    assert result.decline_code == "provider_not_configured" and stripe_fake.charges == []
    await router.aclose()
