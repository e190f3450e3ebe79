"""Set-based writes of many rows in one statement, without the ORM or per-row parameters.

On PostgreSQL every column travels as one array parameter and the server unnests them:
``INSERT ... SELECT * FROM unnest($1::t1[], $2::t2[], ...)`` and
``UPDATE ... SET c = v.c FROM unnest(...) AS v(...) WHERE t.key = v.key``: one statement, one
round trip, and Python only transposes the rows (SQLAlchemy's executemany builds and
processes a parameter set per row, which dominated the renewal batch). On SQLite, where the
database is in-process, they are Core executemany statements.

Values pass through each column type's own bind processing (UTC timestamps, JSON), so what is
stored is exactly what a Core statement would have stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

Row = Mapping[str, Any]


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (each with the same keys, the column names) into ``table``."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        await connection.execute(insert(table), list(rows))
        return
    names = tuple(rows[0])
    columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    arrays = ", ".join(
        f"${n}::{_array_type(table, name, dialect)}" for n, name in enumerate(names, 1)
    )
    sql = f"INSERT INTO {_quoted(table, dialect)} ({columns}) SELECT * FROM unnest({arrays})"
    await connection.exec_driver_sql(sql, _columns(table, names, rows, dialect))


async def update_rows(session: AsyncSession, table: Table, key: str, rows: Sequence[Row]) -> None:
    """Set the columns named in ``rows`` (each with the same keys) on the row whose ``key``
    column equals the row's ``key`` value; every other column is left alone."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    names = tuple(rows[0])
    changed = [name for name in names if name != key]
    if not changed:
        return
    if dialect.name != "postgresql":
        statement = (
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({name: bindparam(f"b_{name}") for name in changed})
        )
        params = [{f"b_{name}": row[name] for name in names} for row in rows]
        await connection.execute(statement, params)
        return
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(
        f"${n}::{_array_type(table, name, dialect)}" for n, name in enumerate(names, 1)
    )
    aliases = ", ".join(quote(name) for name in names)
    assignments = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in changed)
    target = _quoted(table, dialect)
    sql = (
        f"UPDATE {target} SET {assignments} FROM unnest({arrays}) AS v({aliases}) "
        f"WHERE {target}.{quote(key)} = v.{quote(key)}"
    )
    await connection.exec_driver_sql(sql, _columns(table, names, rows, dialect))


def _quoted(table: Table, dialect: Dialect) -> str:
    return dialect.identifier_preparer.format_table(table)


def _columns(
    table: Table, names: Sequence[str], rows: Sequence[Row], dialect: Dialect
) -> tuple[list[Any], ...]:
    """One list per column, each value bound the way the column's type binds it."""
    out = []
    for name in names:
        process = _processor(table, name, dialect)
        values = [row[name] for row in rows]
        if process is not None:
            values = [process(value) for value in values]
        out.append(values)
    return tuple(out)


@cache
def _processor(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    process: Callable[[Any], Any] | None = (
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    )
    return process


@cache
def _array_type(table: Table, name: str, dialect: Dialect) -> str:
    return f"{table.c[name].type.compile(dialect=dialect)}[]"
