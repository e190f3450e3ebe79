"""Configuration from ``TENURE_*`` environment variables (the CLI sets the same names)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./tenure.db"
    catalog_path: str | None = None  # None: the packaged default catalog
    api_key: str | None = None  # bootstrap key; created and printed once when unset
    embedded_worker: bool = True
    worker_interval: float = 1.0  # seconds between sweeps when there is no work
    migrate: bool = True
    # Calls per second to the payment provider (charges and lookups); 0 means no limit.
    provider_rate: float = 0.0
    # One ``http.request`` log line per request (TENURE_ACCESS_LOG); probes and scrapes excluded.
    access_log: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("TENURE_DATABASE_URL") or cls.database_url,
            catalog_path=os.environ.get("TENURE_CATALOG") or None,
            api_key=os.environ.get("TENURE_API_KEY") or None,
            embedded_worker=_flag("TENURE_EMBEDDED_WORKER", True),
            worker_interval=float(os.environ.get("TENURE_WORKER_INTERVAL") or 1.0),
            migrate=_flag("TENURE_MIGRATE", True),
            provider_rate=float(os.environ.get("TENURE_PROVIDER_RATE") or 0.0),
            access_log=_flag("TENURE_ACCESS_LOG", True),
        )
