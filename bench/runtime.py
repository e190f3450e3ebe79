"""Building a Tenure :class:`Runtime` the way ``tenure worker`` does, with a chosen provider."""

from __future__ import annotations

from typing import Literal

import tenure.migrations.metadata  # noqa: F401  (every table, so foreign keys resolve)
from bench.nullpay import NullProvider
from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.flows.assembly import assemble
from tenure.flows.runtime import Runtime
from tenure.payments.ports import PaymentProvider
from tenure.payments.sandbox import SandboxProvider

ProviderName = Literal["sandbox", "null"]


def make_runtime(database_url: str, provider: ProviderName = "sandbox") -> Runtime:
    database = Database(database_url)
    payments: PaymentProvider = (
        SandboxProvider(database) if provider == "sandbox" else NullProvider()
    )
    return assemble(db=database, catalog=load_catalog(default_catalog_path()), provider=payments)
