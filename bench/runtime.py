"""Building a Tenure :class:`Runtime` the way ``tenure worker`` does, with a chosen provider."""

from __future__ import annotations

from typing import Literal

import tenure.migrations.metadata  # noqa: F401  (every table, so foreign keys resolve)
from bench.nullpay import NullProvider
from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database, Timeouts
from tenure.flows.assembly import assemble
from tenure.flows.runtime import Runtime
from tenure.payments.ports import PaymentProvider
from tenure.payments.sandbox import SandboxProvider

ProviderName = Literal["sandbox", "null"]

# The harness's own seeding, VACUUM and counting over up to 1,000,000 rows (``--full``) take
# longer than a request's 5 s statement bound; the servers and workers it measures keep theirs.
SETUP_TIMEOUTS = Timeouts(connect=10.0, statement=3600.0, pool=60.0)


def setup_database(database_url: str) -> Database:
    """A database handle for the harness's own set-up and checks (no 5 s statement bound)."""
    return Database(database_url, timeouts=SETUP_TIMEOUTS)


def make_runtime(
    database_url: str, provider: ProviderName = "sandbox", *, setup: bool = False
) -> Runtime:
    """``setup``: for the harness's own seeding (long statement bound), not a measured worker."""
    database = setup_database(database_url) if setup else Database(database_url)
    payments: PaymentProvider = (
        SandboxProvider(database) if provider == "sandbox" else NullProvider()
    )
    return assemble(db=database, catalog=load_catalog(default_catalog_path()), provider=payments)
