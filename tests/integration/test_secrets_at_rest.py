"""Secrets at rest: webhook signing secrets are ciphertext in the database, readable with any
configured key, re-encrypted with the current key without downtime, and encrypted by the
migration when rows already exist."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from tenure.cli.main import app as cli
from tenure.db import crypto
from tenure.db.engine import Database
from tenure.migrations import upgrade
from tenure.webhooks.models import WebhookEndpoint
from tests.integration.test_migrations import empty  # noqa: F401 - fixture

OLD = crypto.generate_key()
NEW = crypto.generate_key()
SECRET = "whsec_c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr"


@pytest.fixture(autouse=True)
def keys() -> Iterator[None]:
    yield
    crypto.configure(os.environ.get(crypto.ENV))  # back to the suite's key


async def _insert(database: Database, endpoint_id: str, secret: str = SECRET) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with database.transaction() as session:
        session.add(
            WebhookEndpoint(
                id=endpoint_id,
                url="https://hooks.example.com/t",
                event_types=["*"],
                status="enabled",
                secret=secret,
                previous_secret=secret + "old",
                created_at=now,
                updated_at=now,
            )
        )


async def _raw(database: Database) -> list[tuple[str, str, str | None]]:
    async with database.read() as session:
        rows = await session.execute(
            text("SELECT id, secret, previous_secret FROM webhook_endpoints ORDER BY id")
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def _secrets(database: Database) -> list[str]:
    async with database.read() as session:
        found = await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        return [endpoint.secret for endpoint in found]


async def test_the_database_holds_only_ciphertext(database: Database) -> None:
    crypto.configure(OLD)
    await _insert(database, "we_1")
    ((_, secret, previous),) = await _raw(database)
    assert secret.startswith(crypto.MARK) and SECRET not in secret
    assert previous is not None and SECRET not in previous
    assert await _secrets(database) == [SECRET]
    crypto.configure(NEW)  # another key cannot read it, and says so
    with pytest.raises(crypto.SecretKeyError, match="not in TENURE_SECRET_KEY"):
        await _secrets(database)


async def test_rotation_without_downtime(database: Database, database_url: str) -> None:
    crypto.configure(OLD)
    await _insert(database, "we_1")
    await _insert(database, "we_2")
    crypto.configure(f"{NEW},{OLD}")  # step 1: every process reads both
    assert await _secrets(database) == [SECRET, SECRET]
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["secrets", "reencrypt", "--database-url", database_url, "--batch", "1", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"reencrypted": 2}
    crypto.configure(NEW)  # step 3: the old key is gone, everything still reads
    assert await _secrets(database) == [SECRET, SECRET]
    assert all(crypto.is_current(secret) for _, secret, _ in await _raw(database))


async def test_plain_rows_from_before_a_key_are_read_then_encrypted(
    database: Database, database_url: str
) -> None:
    crypto.configure(None)
    await _insert(database, "we_1")
    assert (await _raw(database))[0][1] == SECRET  # no key: stored as is (with a warning)
    crypto.configure(NEW)
    assert await _secrets(database) == [SECRET]
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["secrets", "reencrypt", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    ((_, secret, previous),) = await _raw(database)
    assert secret.startswith(crypto.MARK) and previous is not None
    assert previous.startswith(crypto.MARK)
    assert await _secrets(database) == [SECRET]


def test_reencrypt_needs_a_key(tmp_path: object) -> None:
    crypto.configure(None)
    result = CliRunner().invoke(cli, ["secrets", "reencrypt"], env={crypto.ENV: ""})
    assert result.exit_code == 2 and "TENURE_SECRET_KEY" in result.output


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(ValueError, match="Fernet keys"):
        crypto.configure("not-a-key")


async def test_the_migration_encrypts_existing_rows(empty: Database) -> None:  # noqa: F811
    await upgrade(empty, "0010_outbox_request_context")
    async with empty.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO webhook_endpoints (id, url, event_types, status, secret, "
                "created_at, updated_at) VALUES ('we_1', 'https://h.example.com', '[\"*\"]', "
                "'enabled', :secret, :at, :at)"
            ),
            {"secret": SECRET, "at": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    crypto.configure(NEW)
    await upgrade(empty)
    ((_, secret, previous),) = await _raw(empty)
    assert secret.startswith(crypto.MARK) and SECRET not in secret and previous is None
    assert await _secrets(empty) == [SECRET]
