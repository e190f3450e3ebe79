from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.settings import Settings
from tests.support.api import API_KEY, Api
from tests.support.stores import chain, fakes, stores  # noqa: F401 - fixtures


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client)
