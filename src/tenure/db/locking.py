"""Row-claiming helpers that degrade gracefully on SQLite (which serializes writers anyway)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T", bound=tuple[Any, ...])


def for_update(statement: Select[T], session: AsyncSession, *, skip_locked: bool = False) -> Select[T]:
    """``FOR UPDATE [SKIP LOCKED]`` on PostgreSQL; unchanged on SQLite (BEGIN IMMEDIATE holds)."""
    if session.bind.dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=skip_locked)
    return statement
