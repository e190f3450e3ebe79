"""The API in process on a variant of the default catalog (a policy added or changed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.catalog.loader import default_catalog_path
from tenure.settings import Settings
from tests.support.api import API_KEY, Api


def variant(tmp_path: Path, *, replace: tuple[str, str] | None = None, append: str = "") -> str:
    """The default catalog with one exact text replaced (it must occur once) and/or appended."""
    text = default_catalog_path().read_text(encoding="utf-8")
    if replace is not None:
        old, new = replace
        assert text.count(old) == 1, f"{old!r} must occur once in the default catalog"
        text = text.replace(old, new)
    path = tmp_path / "catalog.toml"
    path.write_text(text + append, encoding="utf-8")
    return str(path)


@asynccontextmanager
async def api_with_catalog(database_url: str, catalog_path: str) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        catalog_path=catalog_path,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client)
