"""The documented sample notifications (docs/stores.md, ``tenure stores samples``) move a
customer's subscription and entitlements through subscribe, renew, grace, hold, recovery,
refund and expiry on both stores, as a web subscription moves."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.settings import Settings
from tenure.store_settings import StoreSettings
from tenure.storefakes import samples
from tests.support.api import API_KEY


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_samples_move_both_stores_through_the_lifecycle(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    env_file = samples.setup(tmp_path / "stores", port=port)
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        monkeypatch.setenv(name, value)
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        stores=StoreSettings.from_env(),
    )
    fakes = samples.load_fakes(tmp_path / "stores", port=port)
    server = fakes.server(port).start()
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            seen = await samples.send(client, fakes, api_key=API_KEY, say=lambda _: None)
    finally:
        server.stop()
    assert seen["app_store"] == [
        ("subscribe", "active", "premium_individual"),
        ("renew", "active", "premium_individual"),
        ("grace", "past_due", "premium_individual"),
        ("hold", "on_hold", "free"),
        ("recovery", "active", "premium_individual"),
        ("refund", "canceled", "free"),
        ("refund reversed", "active", "premium_individual"),
        ("auto-renew off", "active", "premium_individual"),
        ("expiry", "expired", "free"),
    ]
    assert seen["google_play"] == [
        ("subscribe", "active", "premium_individual"),
        ("renew", "active", "premium_individual"),
        ("grace", "past_due", "premium_individual"),
        ("hold", "on_hold", "free"),
        ("recovery", "active", "premium_individual"),
        ("auto-renew off", "active", "premium_individual"),
        ("expiry", "expired", "free"),
        ("refund", "expired", "free"),
    ]
