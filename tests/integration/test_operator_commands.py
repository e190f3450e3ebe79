"""Operator commands against a live database: check, keys, customer show, events replay,
subscription rerun, and the worker's readable failures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from typer.testing import CliRunner, Result

from tenure.api.app import create_app
from tenure.cli.main import app
from tenure.db.engine import Database
from tenure.settings import Settings
from tests.support.api import API_KEY, Api
from tests.support.logscan import keep

runner = CliRunner()


def tenure(url: str, *args: str) -> Result:
    return runner.invoke(app, [*args, "--database-url", url])


def with_api(url: str, work: Callable[[Api], Awaitable[Any]]) -> Any:
    async def _go() -> Any:
        settings = Settings(database_url=url, api_key=API_KEY, embedded_worker=False, migrate=False)
        async with AsyncTestClient(app=create_app(settings)) as client:
            return await work(Api(client))

    return asyncio.run(_go())


def sql(url: str, *statements: str) -> list[Any]:
    async def _go() -> list[Any]:
        database = Database(url)
        try:
            results = []
            async with database.engine.begin() as connection:
                for statement in statements:
                    result = await connection.execute(text(statement))
                    results.append(result.all() if result.returns_rows else result.rowcount)
            return results
        finally:
            await database.dispose()

    return asyncio.run(_go())


async def walkthrough(api: Api) -> dict[str, str]:
    """The README walkthrough, plus a refund and a grant."""
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock, external_id="user-42")
    sub = await api.subscribe(customer)
    await api.advance(clock, "2026-01-31T10:00:00Z")
    invoices = await api.invoices(customer)
    await api.ok("POST", f"/v1/invoices/{invoices[0]['id']}/refund", {"amount": 500, "reason": "x"})
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True})
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/grants",
        {"product": "premium_family", "days": 7, "reason": "outage compensation"},
    )
    await api.advance(clock, "2026-03-01T10:00:00Z")
    await api.events()  # numbers the outbox, as a reader (or the worker) would
    return {"clock": clock, "customer": customer, "subscription": sub["id"]}


def test_check_is_clean_after_the_walkthrough_and_lists_injected_violations(
    database_url: str,
) -> None:
    ids = with_api(database_url, walkthrough)
    clean = tenure(database_url, "check", "--json")
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.stdout)
    assert report["ok"] is True
    assert len(report["checks"]) >= 12

    [[invoice]] = sql(
        database_url,
        f"SELECT id FROM invoices WHERE customer_id = '{ids['customer']}' "
        "AND status = 'paid' ORDER BY period_start DESC LIMIT 1",
    )[0]
    sql(
        database_url,
        f"UPDATE invoices SET amount_paid = amount_paid + 100 WHERE id = '{invoice}'",
        f"UPDATE entitlements SET product = 'premium_duo' WHERE customer_id = '{ids['customer']}'",
        "DELETE FROM outbox_events WHERE id = (SELECT id FROM outbox_events "
        "WHERE type = 'subscription.renewed' ORDER BY pk LIMIT 1)",
    )
    dirty = tenure(database_url, "check")
    assert dirty.exit_code == 1
    for name in (
        "attempts_match_cash_paid",
        "invoice_amounts_within_total",
        "entitlements_match_sources",
        "event_sequences_complete",
        "state_changes_have_events",
        "outbox_positions_gapless",
    ):
        assert name in dirty.stdout, dirty.stdout
    assert invoice in dirty.stdout
    assert "checks failed" in dirty.stdout

    only = tenure(database_url, "check", "--only", "balance_equals_ledger", "--json")
    assert only.exit_code == 0 and [c["name"] for c in json.loads(only.stdout)["checks"]] == [
        "balance_equals_ledger"
    ]


def test_keys_are_created_shown_once_listed_and_revoked(database_url: str) -> None:
    created = tenure(database_url, "keys", "create", "--name", "billing-service", "--json")
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    assert key["secret"].startswith("sk_") and key["active"] is True

    listed = json.loads(tenure(database_url, "keys", "list", "--json").stdout)
    mine = [k for k in listed if k["id"] == key["id"]]
    assert mine and "secret" not in mine[0]
    assert key["secret"] not in tenure(database_url, "keys", "list").stdout

    async def status(api: Api) -> int:
        response = await api.client.get(
            "/v1/plans",
            params={"market": "SE"},
            headers={"Authorization": f"Bearer {key['secret']}"},
        )
        return response.status_code

    assert with_api(database_url, status) == 200
    revoked = tenure(database_url, "keys", "revoke", key["id"], "--json")
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["active"] is False
    assert tenure(database_url, "keys", "revoke", key["id"]).exit_code == 0  # idempotent
    assert with_api(database_url, status) == 401
    missing = tenure(database_url, "keys", "revoke", "key_nope")
    assert missing.exit_code == 1
    assert missing.output.count("\n") == 1 and "no key" in missing.output


def test_customer_show_events_replay_and_rerun(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENURE_WEBHOOKS_ALLOW_PRIVATE", "true")

    async def setup(api: Api) -> dict[str, str]:
        clock = await api.clock("2025-01-31T10:00:00Z")
        customer = await api.customer(clock, external_id="ops-1")
        sub = await api.subscribe(customer)
        endpoint = await api.ok(
            "POST",
            "/v1/webhook_endpoints",
            {"url": "http://127.0.0.1:9/hooks", "event_types": ["*"]},
        )
        await api.events()
        return {"clock": clock, "customer": customer, "sub": sub["id"], "endpoint": endpoint["id"]}

    ids = with_api(database_url, setup)

    shown = tenure(database_url, "customer", "show", "ops-1", "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["customer"]["id"] == ids["customer"]
    assert [s["id"] for s in view["subscriptions"]] == [ids["sub"]]
    assert view["invoices"] and view["payments"] and view["events"]
    assert view["entitlements"]["product"] == "premium_individual"
    assert ids["sub"] in tenure(database_url, "customer", "show", ids["customer"]).stdout
    unknown = tenure(database_url, "customer", "show", "nobody")
    assert unknown.exit_code == 1 and "no customer" in unknown.output

    replayed = tenure(
        database_url,
        "events",
        "replay",
        "--to",
        ids["endpoint"],
        "--since",
        "2000-01-01T00:00:00Z",
        "--json",
    )
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout)["queued"] >= 5
    [[pending]] = sql(
        database_url,
        f"SELECT count(*) FROM event_deliveries WHERE destination = '{ids['endpoint']}' "
        "AND status = 'pending'",
    )[0]
    assert pending >= 5
    to_nats = tenure(
        database_url, "events", "replay", "--to", "nats", "--since", "2000-01-01T00:00:00Z"
    )
    assert to_nats.exit_code == 0, to_nats.output
    assert tenure(database_url, "events", "replay", "--to", "nats").exit_code == 2
    assert (
        tenure(
            database_url, "events", "replay", "--to", "we_nope", "--since", "2000-01-01Z"
        ).exit_code
        != 0
    )

    # The clock moves on without an advance: the renewal is due at the clock's time.
    sql(
        database_url,
        f"UPDATE test_clocks SET frozen_time = '2025-03-01 10:00:00' WHERE id = '{ids['clock']}'"
        if "sqlite" in database_url
        else f"UPDATE test_clocks SET frozen_time = '2025-03-01 10:00:00+00' "
        f"WHERE id = '{ids['clock']}'",
    )
    first = tenure(database_url, "subscription", "rerun", ids["sub"], "--json")
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert result["actions"] == ["renewed"]
    assert result["status_after"] == "active"
    again = json.loads(tenure(database_url, "subscription", "rerun", ids["sub"], "--json").stdout)
    assert again["actions"] == []  # idempotent: nothing is due any more
    assert tenure(database_url, "check").exit_code == 0


def test_version_and_unknown_subscription() -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("tenure ")


def test_worker_on_an_unmigrated_database_says_so_in_one_line(tmp_path: Path) -> None:
    tenure_bin = Path(sys.executable).with_name("tenure")
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    done = subprocess.run(
        [str(tenure_bin), "worker", "--once", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TENURE_LOG_FORMAT": "json"},
        check=False,
    )
    keep(done.stdout + done.stderr, "worker-unmigrated")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "not migrated" in lines[0] and "tenure migrate" in lines[0]


def test_readiness_names_an_unreachable_database_quickly() -> None:
    from tenure.ops.readiness import schema_checks

    async def _go() -> list[Any]:
        database = Database("postgresql://postgres@127.0.0.1:1/nowhere")
        try:
            return await schema_checks(database, limit_s=2.0)
        finally:
            await database.dispose()

    [check] = asyncio.run(_go())
    assert check.name == "database" and not check.ok
    assert "unreachable" in check.detail or "no answer" in check.detail
