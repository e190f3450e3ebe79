from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.flows.assembly import assemble
from tenure.flows.runtime import Runtime
from tenure.payments.sandbox import SandboxProvider
from tests.support.clock import JumpClock


@pytest.fixture
async def runtime(database: Database) -> AsyncIterator[Runtime]:
    yield assemble(
        db=database,
        catalog=load_catalog(default_catalog_path()),
        provider=SandboxProvider(database),
        clock=JumpClock(),
    )
