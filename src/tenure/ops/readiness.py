"""Is this process fit to serve? The checks behind ``/readyz`` and ``tenure worker``'s start.

- **database**: reachable and answering within a short time limit;
- **migrations**: the schema is at this code's head revision (a revision this code does not
  know is newer, from a deploy rolling out: ready, so a rollout never takes old pods out);
- **catalog**: loaded, with plans.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from alembic.script import ScriptDirectory
from sqlalchemy import text

from tenure.catalog.model import Catalog
from tenure.db.engine import Database
from tenure.migrations import alembic_config

TIMEOUT: Final = 1.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


async def current_revision(database: Database) -> str | None:
    """The schema's revision, or ``None`` on a database never migrated."""
    async with database.engine.connect() as connection:
        try:
            found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return None if found is None else str(found)
        except Exception:  # no alembic_version table: never migrated
            await connection.rollback()
            if await connection.scalar(text("SELECT 1")) == 1:
                return None
            raise


def migration_check(revision: str | None) -> Check:
    head = head_revision()
    if revision == head:
        return Check("migrations", True, f"at head {head}")
    if revision is None:
        return Check(
            "migrations", False, f"database not migrated (head is {head}): run `tenure migrate`"
        )
    if revision not in known_revisions():
        return Check("migrations", True, f"at {revision}, newer than this code's head {head}")
    return Check(
        "migrations", False, f"database at {revision}, head is {head}: run `tenure migrate`"
    )


async def schema_checks(database: Database, *, limit_s: float = TIMEOUT) -> list[Check]:
    try:
        revision = await asyncio.wait_for(current_revision(database), timeout=limit_s)
    except TimeoutError:
        return [Check("database", False, f"no answer within {limit_s:g} s")]
    except Exception as error:
        return [Check("database", False, f"unreachable: {type(error).__name__}")]
    return [Check("database", True, "reachable"), migration_check(revision)]


def catalog_check(catalog: Catalog | None) -> Check:
    if catalog is None or not catalog.plans:
        return Check("catalog", False, "not loaded")
    return Check("catalog", True, f"{len(catalog.plans)} plans")


async def readiness(
    database: Database, catalog: Catalog | None, *, limit_s: float = TIMEOUT
) -> list[Check]:
    return [*await schema_checks(database, limit_s=limit_s), catalog_check(catalog)]
