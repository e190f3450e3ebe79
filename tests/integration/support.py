"""Building a Runtime on a test database, as ``tenure serve`` does."""

from __future__ import annotations

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.flows.assembly import assemble
from tenure.flows.runtime import Runtime
from tenure.payments.sandbox import SandboxProvider

CATALOG = load_catalog(default_catalog_path())


def runtime_for(database: Database) -> Runtime:
    return assemble(db=database, catalog=CATALOG, provider=SandboxProvider(database))
