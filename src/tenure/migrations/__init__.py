"""Alembic migrations, applied programmatically at start (``tenure migrate``, ``tenure serve``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tenure.db.engine import Database

HERE = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


async def upgrade(database: Database, revision: str = "head") -> None:
    def _run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    if not database.is_postgres:
        async with database.engine.begin() as connection:
            await connection.run_sync(_run)
        return
    # A migration may rewrite a large table: the request-sized statement timeouts of the
    # application's pool do not apply to it, only the connect timeout.
    engine = create_async_engine(
        database.url, poolclass=NullPool, connect_args={"timeout": database.timeouts.connect}
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()
