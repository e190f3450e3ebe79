"""A Python client generated from /openapi.json drives the README walkthrough, typed.

``openapi-python-client`` (pinned in the ``dev`` extra) generates the client once per test
session from the document the app serves, offline, into a temporary folder; the walkthrough
then runs through it against the app in process and reads attributes, never dicts.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, TypeVar

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.api.openapi import document
from tenure.settings import Settings
from tests.support.api import API_KEY

# One xdist worker generates the client and runs every test that uses it.
pytestmark = pytest.mark.xdist_group("generated_client")

PACKAGE = "tenure_client"
T = TypeVar("T")


def generate(spec: bytes, into: Path) -> str:
    """Generate the client package into ``into``; returns the generator's output."""
    (into / "openapi.json").write_bytes(spec)
    # No post hooks: the output is exactly what the generator writes, with no formatter run.
    (into / "config.yaml").write_text(
        f"post_hooks: []\nproject_name_override: tenure-client\npackage_name_override: {PACKAGE}\n"
    )
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(into / "openapi.json"),
            "--config",
            str(into / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(into / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="session")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    app = create_app(Settings(database_url="sqlite:///unused.db", api_key="k"))
    into = tmp_path_factory.mktemp("generated")
    output = generate(document(app), into)
    # A warning means the generator skipped part of the document: fix the schema instead.
    assert "Warning" not in output and "Error" not in output, output
    sys.path.insert(0, str(into))
    try:
        modules = {
            name: importlib.import_module(f"{PACKAGE}.{name}")
            for name in (
                "models",
                "types",
                "api.test_clocks.test_clock_create",
                "api.test_clocks.test_clock_advance",
                "api.customers.customer_create",
                "api.catalog.list_plans",
                "api.subscriptions.subscription_create",
                "api.subscriptions.subscription_read",
                "api.subscriptions.subscription_cancel",
                "api.subscriptions.subscription_history",
                "api.invoices.invoice_list",
                "api.events.list_events",
                "api.entitlements.entitlements_by_customer",
            )
        }
        root = importlib.import_module(PACKAGE)
        yield SimpleNamespace(root=root, output=output, **_short(modules))
    finally:
        sys.path.remove(str(into))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _short(modules: dict[str, ModuleType]) -> dict[str, ModuleType]:
    return {name.rsplit(".", 1)[-1]: module for name, module in modules.items()}


@pytest.fixture
async def clients(client_package: SimpleNamespace, database_url: str) -> AsyncIterator[Any]:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    app = create_app(settings)
    root = client_package.root
    async with AsyncTestClient(app=app) as app_client:  # the lifespan: database, catalog, key
        transport = {"transport": Through(app_client)}
        yield SimpleNamespace(
            authed=root.AuthenticatedClient(
                base_url="http://tenure.test",
                token=API_KEY,
                raise_on_unexpected_status=True,
                httpx_args=transport,
            ),
            anonymous=root.Client(base_url="http://tenure.test", httpx_args=transport),
        )


class Through(httpx.AsyncBaseTransport):
    """Hands each request to the app's test client: the app (and its database pool) lives on
    that client's event loop, not the test's."""

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.client.send(request)


def typed(value: object, kind: type[T]) -> T:
    """The answer is the success type, not a Problem."""
    assert isinstance(value, kind), value
    return value


async def test_generated_client_drives_the_walkthrough(
    clients: Any, client_package: SimpleNamespace
) -> None:
    g = client_package
    m = g.models
    client = clients.authed

    plans = typed(await g.list_plans.asyncio(client=client, market="SE"), m.PlanList)
    monthly = next(p for p in plans.data if p.id == "premium_individual_monthly")
    assert (monthly.price.amount, monthly.price.currency) == (12900, "SEK")

    clock = typed(
        await g.test_clock_create.asyncio(
            client=client, body=m.CreateTestClock(frozen_time="2025-01-31T10:00:00Z")
        ),
        m.TestClock,
    )
    customer = typed(
        await g.customer_create.asyncio(
            client=client,
            body=m.CreateCustomer(
                external_id="user-42", email="ada@example.com", market="SE", test_clock=clock.id
            ),
            idempotency_key="walkthrough-customer",
        ),
        m.Customer,
    )
    assert customer.metadata.to_dict() == {}
    sub = typed(
        await g.subscription_create.asyncio(
            client=client,
            body=m.CreateSubscription(
                customer=customer.id,
                plan="premium_individual_monthly",
                payment_method="pm_card_visa",
            ),
        ),
        m.SubscriptionCreated,
    )
    assert sub.status == m.SubscriptionStatus.ACTIVE
    assert sub.last_payment_error is None and isinstance(sub.latest_invoice, str)
    assert sub.household is None

    advanced = await g.test_clock_advance.asyncio(
        clock.id, client=client, body=m.AdvanceTestClock(frozen_time="2026-01-31T10:00:00Z")
    )
    assert typed(advanced, m.TestClock).frozen_time == "2026-01-31T10:00:00Z"

    invoices = typed(
        await g.invoice_list.asyncio(client=client, customer=customer.id, limit=100),
        m.InvoiceList,
    )
    assert len(invoices.data) == 13
    assert {(i.status, i.total, i.tax, i.currency) for i in invoices.data} == {
        ("paid", 12900, 2580, "SEK")
    }
    assert all(len(i.lines) == 1 and i.lines[0].total == 12900 for i in invoices.data)

    events = typed(
        await g.list_events.asyncio(client=client, subscription=sub.id, limit=100), m.EventList
    )
    assert [e.sequence for e in events.data] == list(range(1, len(events.data) + 1))
    assert [e.type_ for e in events.data].count("subscription.renewed") == 12

    canceled = typed(
        await g.subscription_cancel.asyncio(
            sub.id, client=client, body=m.CancelSubscription(at_period_end=True)
        ),
        m.SubscriptionDetail,
    )
    assert canceled.cancel_at_period_end is True
    assert canceled.status == m.SubscriptionStatus.ACTIVE

    await g.test_clock_advance.asyncio(
        clock.id, client=client, body=m.AdvanceTestClock(frozen_time="2026-03-01T10:00:00Z")
    )
    ended = typed(await g.subscription_read.asyncio(sub.id, client=client), m.SubscriptionDetail)
    assert ended.status == m.SubscriptionStatus.EXPIRED
    assert ended.ended_at == "2026-02-28T10:00:00Z"

    entitlements = typed(
        await g.entitlements_by_customer.asyncio(customer.id, client=client), m.Entitlements
    )
    assert (entitlements.product, entitlements.source) == ("free", "free")
    assert "ad_free" not in entitlements.features

    history = typed(
        await g.subscription_history.asyncio(sub.id, client=client), m.SubscriptionHistoryList
    )
    assert history.data[0].from_ is None and history.data[0].to == "incomplete"
    assert history.data[-1].to == "expired"


async def test_generated_client_reads_problems(
    clients: Any, client_package: SimpleNamespace
) -> None:
    g = client_package
    unknown = "sub_01JD3K6ZQ8N0V5X2T9E4M7B1CE"
    missing = await g.subscription_read.asyncio_detailed(unknown, client=clients.authed)
    assert missing.status_code == 404
    problem = typed(missing.parsed, g.models.Problem)
    assert problem.code == "subscription_not_found"
    assert problem.status == 404

    refused = await g.subscription_read.asyncio_detailed(unknown, client=clients.anonymous)
    assert refused.status_code == 401
    assert typed(refused.parsed, g.models.Problem).code == "unauthorized"
