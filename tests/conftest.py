"""Test fixtures: one throwaway database per backend per test run, clean tables per test.

SQLite always runs. PostgreSQL runs when TENURE_TEST_POSTGRES_URL is set; with CI=true a
missing URL, or a run in which no PostgreSQL test passed, fails the session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tenure.db.engine import Database, normalize_url
from tenure.migrations import upgrade
from tenure.migrations.metadata import metadata

# Every log line of the run is kept and scanned for secrets, card numbers and bodies.
pytest_plugins = ["tests.support.logscan", "tests.support.provider_world"]

# `pytest --hypothesis-profile=deep` runs the long property searches (the money state machine
# in tests/http/test_money_property.py reads this budget); the default keeps `make test` short.
settings.register_profile("deep", max_examples=300, stateful_step_count=40, deadline=None)

# Secrets at rest are encrypted in every test (db/crypto.py reads this when first needed), so
# each webhook test also proves signing works through encryption.
os.environ.setdefault("TENURE_SECRET_KEY", "q4b8VnE0kL1mD3T2w6yXj9sZr5uA7cH0pF2gN8eKtYo=")

POSTGRES_URL = os.environ.get("TENURE_TEST_POSTGRES_URL")
NATS_URL = os.environ.get("TENURE_TEST_NATS_URL")
REDIS_URL = os.environ.get("TENURE_TEST_REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ["sqlite", "postgres"]
_postgres_passed = 0
_redis_passed = 0


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not POSTGRES_URL:
        raise pytest.UsageError("CI=true but TENURE_TEST_POSTGRES_URL is not set")
    if IN_CI and not NATS_URL:
        raise pytest.UsageError("CI=true but TENURE_TEST_NATS_URL is not set")
    if IN_CI and not REDIS_URL:
        raise pytest.UsageError("CI=true but TENURE_TEST_REDIS_URL is not set")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _postgres_passed, _redis_passed
    if report.when == "call" and report.passed and "[postgres" in report.nodeid:
        _postgres_passed += 1
    if report.when == "call" and report.passed and "redis" in report.keywords:
        _redis_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    is_worker = hasattr(session.config, "workerinput")
    # With xdist the controller sees every report, so this counts all workers' tests.
    ran = IN_CI and not is_worker and exitstatus == 0 and session.testscollected
    if ran and _postgres_passed == 0:
        print("\nCI=true but no PostgreSQL test passed", flush=True)  # noqa: T201
        session.exitstatus = 1
    if ran and _redis_passed == 0:
        print("\nCI=true but no Redis test passed", flush=True)  # noqa: T201
        session.exitstatus = 1


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# --- PostgreSQL: one database per test run (and xdist worker), dropped at the end ---------


async def _admin_execute(statement: str) -> None:
    assert POSTGRES_URL is not None
    engine = create_async_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("TENURE_TEST_POSTGRES_URL not set")
    name = f"tenure_test_{_worker_id()}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(POSTGRES_URL)).set(database=name).render_as_string(False)

    async def migrate() -> None:
        database = Database(url)
        await upgrade(database)
        await database.dispose()

    asyncio.run(migrate())
    yield url
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- SQLite: a migrated template file, copied for each test ----------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"

    async def migrate() -> None:
        database = Database(f"sqlite:///{path}")
        await upgrade(database)
        # Closing the last connection checkpoints the WAL into the file, so a plain copy of
        # the .db file is a complete database.
        await database.dispose()

    asyncio.run(migrate())
    return path


_TABLES = [table.name for table in reversed(metadata.sorted_tables)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "tenure.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    url: str = request.getfixturevalue("postgres_url")

    async def truncate() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY"))
        await engine.dispose()

    asyncio.run(truncate())
    yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; tests use their own key prefix, so parallel runs don't collide."""
    if not REDIS_URL:
        pytest.skip("TENURE_TEST_REDIS_URL not set")
    return REDIS_URL


@pytest.fixture
def nats_url() -> str:
    """The machine's NATS server (with JetStream); tests needing it skip without it."""
    if not NATS_URL:
        pytest.skip("TENURE_TEST_NATS_URL not set")
    return NATS_URL


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if "[postgres" in item.nodeid:
            item.add_marker(pytest.mark.postgres)
