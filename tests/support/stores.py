"""Tenure with both stores configured against fakes: a test key chain trusted as Apple's root,
a fake App Store Server API and a fake Play Developer API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.payments.fakes.server import FakeServer, Request, Response
from tenure.settings import Settings
from tenure.store_settings import StoreSettings
from tenure.storefakes.apple import AppleApp, AppStoreFake, TestChain, ms
from tenure.storefakes.google import PUSH_ACCOUNT, PlayFake, push_body
from tests.support.api import API_KEY, Api

FIXTURES = Path(__file__).parents[1] / "fixtures" / "apple"
AUDIENCE = "https://tenure.example/v1/stores/google_play/notifications"
PUSH_TOKEN = "local-push-token-for-tests"
MONTHLY = "com.tenure.premium.individual.monthly"
ANNUAL = "com.tenure.premium.individual.annual"
FAMILY = "com.tenure.premium.family.monthly"
STUDENT = "com.tenure.premium.student.monthly"
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@dataclass
class Fakes:
    server: FakeServer
    apple: AppleApp
    app_store: AppStoreFake
    play: PlayFake
    root: Path


def _dispatch(app_store: AppStoreFake, play: PlayFake) -> Any:
    def handler(request: Request) -> Response:
        if request.path.startswith(("/inApps", "/_fake/app_store")):
            return app_store(request)
        return play(request)

    return handler


@pytest.fixture(scope="session")
def chain() -> TestChain:
    return TestChain.generate()


@pytest.fixture
def fakes(chain: TestChain, tmp_path: Path) -> Iterator[Fakes]:
    apple = AppleApp(chain)
    app_store = AppStoreFake(apple)
    play = PlayFake()
    server = FakeServer(_dispatch(app_store, play)).start()
    play.url = server.url
    try:
        yield Fakes(server, apple, app_store, play, chain.save(tmp_path / "chain"))
    finally:
        server.stop()


def store_settings(fakes: Fakes, **overrides: Any) -> StoreSettings:
    values: dict[str, Any] = {
        "app_store_bundle_id": fakes.apple.bundle_id,
        "app_store_app_apple_id": fakes.apple.app_apple_id,
        "app_store_environment": "Sandbox",
        "app_store_root_certificates": (str(fakes.root),),
        "app_store_online_checks": False,
        "app_store_api_key": (FIXTURES / "certs" / "testSigningKey.p8").read_text(),
        "app_store_api_key_id": "TESTKEY123",
        "app_store_api_issuer_id": "57246542-96fe-1a63-e053-0824d011072a",
        "app_store_api_url": fakes.server.url,
        "google_play_package_name": fakes.play.package,
        "google_play_service_account": fakes.play.service_account(),
        "google_play_api_url": fakes.server.url,
        "google_play_push_audience": AUDIENCE,
        "google_play_push_service_account": PUSH_ACCOUNT,
        "google_play_push_token": PUSH_TOKEN,
        "google_play_jwks_url": f"{fakes.server.url}/oauth2/v3/certs",
    }
    values.update(overrides)
    return StoreSettings(**values)


@dataclass
class Stores:
    api: Api
    fakes: Fakes
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def next_id(self) -> str:
        return str(next(self._ids))

    @property
    def apple(self) -> AppleApp:
        return self.fakes.apple

    async def run_worker(self) -> int:
        """One worker pass, on the app's event loop (its pools and clients live there)."""
        from tenure.workers.loop import run_once

        runtime = self.api.client.app.state.runtime
        portal = self.api.client.blocking_portal
        assert portal is not None
        done: int = await asyncio.to_thread(portal.call, run_once, runtime)
        return done

    async def account_token(self, customer: str) -> str:
        body = await self.api.ok("POST", f"/v1/customers/{customer}/store_account_token")
        return str(body["token"])

    async def post_apple(self, signed_payload: str) -> httpx.Response:
        return await self.api.client.post(
            "/v1/stores/app_store/notifications", json={"signedPayload": signed_payload}
        )

    async def apple_ok(self, signed_payload: str) -> dict[str, Any]:
        response = await self.post_apple(signed_payload)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def post_google(
        self, body: bytes, *, oidc: str | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if oidc is not None:
            headers["authorization"] = f"Bearer {oidc}"
        params = {"token": token} if token is not None else None
        return await self.api.client.post(
            "/v1/stores/google_play/notifications", content=body, headers=headers, params=params
        )

    async def google_ok(
        self, token: str, notification_type: int, *, at: datetime, message_id: str | None = None
    ) -> dict[str, Any]:
        body = push_body(
            message_id=message_id or self.next_id(),
            package=self.fakes.play.package,
            event_ms=ms(at),
            notification_type=notification_type,
            token=token,
        )
        response = await self.post_google(body, oidc=self.fakes.play.push_token(AUDIENCE))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def subscription_of(self, customer: str, channel: str) -> dict[str, Any]:
        listed = await self.api.ok("GET", "/v1/subscriptions", customer=customer)
        found = [s for s in listed["data"] if s["channel"] == channel]
        assert found, listed
        return dict(found[-1])

    async def entitlements(self, customer: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.api.ok("GET", f"/v1/customers/{customer}/entitlements")
        return body

    async def history(self, subscription: str) -> list[dict[str, Any]]:
        body = await self.api.ok("GET", f"/v1/subscriptions/{subscription}/history")
        return list(body["data"])

    def apple_notice(
        self,
        type: str,
        subtype: str | None,
        *,
        original: str,
        transaction: str,
        product: str = MONTHLY,
        purchased: datetime,
        expires: datetime,
        signed: datetime,
        token: str | None,
        auto_renew: bool = True,
        renewal_product: str | None = None,
        status: int | None = None,
        txn: dict[str, Any] | None = None,
        renewal: dict[str, Any] | None = None,
        uuid_: str | None = None,
    ) -> str:
        apple = self.apple
        txn = txn or apple.transaction(
            original=original,
            transaction=transaction,
            product=product,
            purchased=purchased,
            expires=expires,
            account_token=token,
            signed=signed,
        )
        renewal = renewal or apple.renewal(
            original=original,
            product=renewal_product or product,
            auto_renew=auto_renew,
            signed=signed,
        )
        return apple.notification(
            type, subtype, transaction=txn, renewal=renewal, signed=signed, status=status,
            uuid_=uuid_,
        )  # fmt: skip


def month(start: datetime, n: int = 1) -> datetime:
    return start + timedelta(days=30 * n)


@pytest.fixture
async def stores(database_url: str, fakes: Fakes) -> AsyncIterator[Stores]:
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        stores=store_settings(fakes),
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Stores(Api(client), fakes)
