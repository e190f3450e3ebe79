"""Engines, sessions and the transaction boundary.

Only request handlers and job runners open a :meth:`Database.transaction`; everything below
them works on the session they are given and never commits.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tenure.observability import tracing

_READONLY = "tenure_readonly"

# Runs inside every write transaction after its body and before COMMIT (projections kept in
# the same transaction); an exception rolls the transaction back.
BeforeCommit = Callable[[AsyncSession], Awaitable[None]]
# Runs after a successful COMMIT (in-process cache invalidation); must not raise.
AfterCommit = Callable[[AsyncSession], None]


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite:///`` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds nothing waits longer than for the database (docs/operations.md).

    ``connect``: opening a connection; ``statement``: one statement (PostgreSQL's
    ``statement_timeout`` on the server plus a client-side bound a little later, for a network
    that swallows packets; SQLite's ``busy_timeout`` for the write lock); ``pool``: waiting for
    a pooled connection.
    """

    connect: float = 3.0
    statement: float = 5.0
    pool: float = 2.0

    @classmethod
    def from_env(cls) -> Timeouts:
        env = os.environ
        return cls(
            connect=float(env.get("TENURE_DB_CONNECT_TIMEOUT") or 3.0),
            statement=float(env.get("TENURE_DB_STATEMENT_TIMEOUT") or 5.0),
            pool=float(env.get("TENURE_DB_POOL_TIMEOUT") or 2.0),
        )


def _configure_sqlite(engine: AsyncEngine, timeouts: Timeouts) -> None:
    busy_ms = int(timeouts.statement * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write transaction takes the write lock up front: a deferred one that upgrades later
        # fails with SQLITE_BUSY instead of waiting when another writer got there first.
        if connection.get_execution_options().get(_READONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.timeouts = timeouts = timeouts or Timeouts.from_env()
        # Statement parameters never appear in exception messages (and so in logs): they hold
        # customers' data.
        options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.dialect == "postgresql":
            options.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=False,
                pool_timeout=timeouts.pool,
                connect_args={
                    "timeout": timeouts.connect,
                    # The client gives up a second after the server would have cancelled: a
                    # partitioned network never answers either.
                    "command_timeout": timeouts.statement + 1.0,
                    "server_settings": {
                        "statement_timeout": str(int(timeouts.statement * 1000)),
                        "lock_timeout": str(int(timeouts.statement * 1000)),
                    },
                },
            )
        else:
            options.update(connect_args={"timeout": timeouts.statement})
        self.engine = create_async_engine(self.url, **options)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, timeouts)
        tracing.instrument_engine(self.engine.sync_engine)  # SQL spans, when tracing is on
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # For hot read paths that use Core on a bare connection (never takes SQLite's write lock).
        self.read_engine = self.engine.execution_options(**{_READONLY: True})
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._before_commit: dict[str, BeforeCommit] = {}
        self._after_commit: dict[str, AfterCommit] = {}

    def before_commit(self, name: str, hook: BeforeCommit) -> None:
        """Register (or replace) a hook run at the end of every :meth:`transaction`."""
        self._before_commit[name] = hook

    def after_commit(self, name: str, hook: AfterCommit) -> None:
        self._after_commit[name] = hook

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block exits normally, rolls back otherwise."""
        async with self._sessions() as session:
            async with session.begin():
                yield session
                for hook in self._before_commit.values():
                    await hook(session)
            for after in self._after_commit.values():
                after(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work (never takes SQLite's write lock)."""
        async with self._read_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def is_postgres(session: AsyncSession) -> bool:
    """Row locks (``FOR UPDATE``) and advisory locks exist on PostgreSQL only."""
    return session.get_bind().dialect.name == "postgresql"
