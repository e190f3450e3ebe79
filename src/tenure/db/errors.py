"""What a database failure means for the caller (issue 10): try later, conflict, or bad value.

``classify`` walks the exception and its causes. A database that cannot be reached, a pool
with no free connection, a statement cancelled by ``statement_timeout`` or a connection lost
mid-way is *unavailable* (the API answers 503 with Retry-After); a constraint violation that
no flow turned into its own error is a *conflict* (409); a value the column cannot hold is
*invalid* (422). Anything else is not a database failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import exc

Kind = Literal["unavailable", "conflict", "invalid"]

_CONSTRAINT = re.compile(r'constraint "([A-Za-z0-9_]+)"')
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([A-Za-z0-9_.]+)")
_COLUMN = re.compile(r'column "([A-Za-z0-9_]+)"')
# Errors that mean "the database is not answering", whatever layer raised them.
_UNREACHABLE = (ConnectionError, TimeoutError, exc.TimeoutError, exc.InterfaceError)


@dataclass(frozen=True, slots=True)
class Failure:
    kind: Kind
    detail: str
    field: str | None = None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(error: BaseException) -> Failure | None:
    for link in _chain(error):
        if isinstance(link, exc.IntegrityError):
            text = str(link.orig)
            name = _CONSTRAINT.search(text) or _SQLITE_UNIQUE.search(text)
            where = f" ({name.group(1)})" if name else ""
            return Failure(
                "conflict", f"the request conflicts with data stored meanwhile{where}; retry"
            )
        if (
            isinstance(link, exc.DataError)
            or (isinstance(link, OverflowError) and "SQLite" in str(link))
            or (
                isinstance(link, exc.DBAPIError) and "invalid input for query argument" in str(link)
            )
        ):
            column = _COLUMN.search(str(getattr(link, "orig", link)))
            field = column.group(1) if column else None
            return Failure(
                "invalid",
                f"a value does not fit its field{f' {field!r}' if field else ''}",
                field,
            )
        if isinstance(link, _UNREACHABLE) or (
            isinstance(link, exc.DBAPIError)
            and (link.connection_invalidated or isinstance(link, exc.OperationalError))
        ):
            return Failure("unavailable", "the database is unavailable; retry shortly")
    return None
