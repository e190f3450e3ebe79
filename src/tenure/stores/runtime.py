"""The configured store integrations of one process: verifiers, API clients, product map."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog

from tenure.catalog.model import Catalog
from tenure.store_settings import StoreSettings
from tenure.stores.app_store import AppStoreVerifier
from tenure.stores.app_store_api import AppStoreApi
from tenure.stores.google_play import PushAuth
from tenure.stores.play_api import PlayApi
from tenure.stores.products import ProductMap, load_products

log = structlog.get_logger(__name__)


@dataclass
class Stores:
    settings: StoreSettings = field(default_factory=StoreSettings)
    products: ProductMap = field(default_factory=ProductMap)
    apple: AppStoreVerifier | None = None
    apple_api: AppStoreApi | None = None
    play: PlayApi | None = None
    push: PushAuth | None = None
    http: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self.apple_api is not None:
            await self.apple_api.close()
        if self.http is not None:
            await self.http.aclose()


def build_stores(settings: StoreSettings, catalog: Catalog, *, strict_chain: bool = True) -> Stores:
    """Everything the settings enable; a wrong setting stops start-up with its name."""
    stores = Stores(settings=settings, products=load_products(catalog, settings.products_path))
    if settings.app_store_enabled:
        stores.apple = AppStoreVerifier(settings, strict_chain=strict_chain)
        for path in settings.app_store_root_certificates:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            log.info("app_store.root_certificate", path=path, sha256=digest)
        if settings.app_store_api_key_id or settings.app_store_api_key:
            stores.apple_api = AppStoreApi(settings)
    if settings.google_play_enabled:
        stores.http = httpx.AsyncClient(timeout=settings.timeout)
        stores.push = PushAuth(settings, stores.http)
        if settings.google_play_service_account:
            stores.play = PlayApi(settings, stores.http)
    return stores
