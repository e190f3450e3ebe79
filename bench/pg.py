"""Throwaway PostgreSQL databases on the local server, always dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url_from_env() -> str:
    """The server to create databases on: TENURE_BENCH_POSTGRES_URL, the tests' URL, or local."""
    url = os.environ.get("TENURE_BENCH_POSTGRES_URL") or os.environ.get("TENURE_TEST_POSTGRES_URL")
    if not url:
        return DEFAULT_ADMIN_URL
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    port: int
    user: str
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Server:
        parsed = make_url(url)
        host = parsed.host or "127.0.0.1"
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the benchmark only talks to loopback, not {host!r}")
        return cls(host, parsed.port or 5432, parsed.username or "postgres", parsed.password)

    def url(self, database: str) -> str:
        auth = self.user if self.password is None else f"{self.user}:{self.password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        """libpq variables for pgbench and psql."""
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


async def _admin(server: Server, statement: str) -> None:
    connection = await asyncpg.connect(server.url("postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def throwaway_database(admin_url: str, prefix: str = "tenure_bench") -> AsyncIterator[str]:
    """Create ``<prefix>_<random>``, yield its URL, and drop it however the block ends."""
    server = Server.parse(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(url: str) -> str:
    return str(make_url(url).database)
