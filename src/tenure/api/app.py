"""The Litestar application: routes, problem+json errors, the gate, and the lifespan.

``create_app`` is the factory Granian serves (``tenure serve``). The lifespan opens the
database, applies migrations, loads the catalog, makes sure an API key exists, and (unless
disabled) runs the worker loop in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import structlog
from litestar import Litestar, MediaType, Request, Response, get
from litestar.di import Provide

from tenure.access.keys import KeyRing, any_key_exists, ensure_key, generate_secret
from tenure.access.tokens import TokenSettings, TokenVerifier
from tenure.api import memory, openapi, ratelimit, routes
from tenure.api.authz import require_scope
from tenure.api.deps import provide_runtime
from tenure.api.docs import SwaggerPage, assets_router
from tenure.api.fastpath import fast_entitlements
from tenure.api.gate import GateState, gate
from tenure.api.health import ROUTES as HEALTH_ROUTES
from tenure.api.hygiene import known_query_parameters
from tenure.api.limits import limited
from tenure.api.parent import exit_with_parent, wanted
from tenure.api.problems import EXCEPTION_HANDLERS, RETRY_AFTER
from tenure.api.routes import entitlements as entitlement_routes
from tenure.api.routes.accounts import CustomerController, TestClockController
from tenure.api.routes.api_keys import ApiKeyController, audit_log
from tenure.api.routes.billing import InvoiceController, list_events, list_plans
from tenure.api.routes.event_types import get_event_type, list_event_types
from tenure.api.routes.households import HouseholdController, accept_invite
from tenure.api.routes.me import MeController
from tenure.api.routes.payment_methods import PaymentMethodController
from tenure.api.routes.privacy import erase_customer, export_customer
from tenure.api.routes.promotions import PromoCodeController
from tenure.api.routes.providers import WebhookSecrets, adyen_notifications, stripe_webhook
from tenure.api.routes.retention import PriceChangeController, RetentionController
from tenure.api.routes.stores import ROUTES as STORE_ROUTES
from tenure.api.routes.subscriptions import SubscriptionController
from tenure.api.routes.webhooks import WebhookEndpointController
from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db import crypto
from tenure.db.engine import Database, Timeouts
from tenure.entitlements.read import CacheBounds
from tenure.flows.assembly import assemble
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import Clock, SystemClock
from tenure.migrations import upgrade
from tenure.observability import logs, metrics, tracing
from tenure.observability.http import observed
from tenure.ops.gauges import SLOT, BusinessGauges
from tenure.payments.instrumented import instrumented
from tenure.payments.router import close_provider
from tenure.payments.selection import build_provider
from tenure.settings import Settings
from tenure.stores.runtime import build_stores
from tenure.workers.loop import run_forever

log = structlog.get_logger(__name__)
_ = routes


@get("/openapi.json", include_in_schema=False, media_type=MediaType.JSON)
async def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(content=openapi.document(request.app), media_type=MediaType.JSON)


async def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    if settings.secret_key is not None:
        crypto.configure(settings.secret_key)
    if not crypto.enabled():
        log.warning(
            "secrets.unencrypted",
            detail="TENURE_SECRET_KEY is not set: webhook signing secrets are stored in plain "
            "text (docs/security.md)",
        )
    faults = settings.faults
    database = Database(
        settings.database_url,
        timeouts=Timeouts(
            connect=faults.db_connect_timeout,
            statement=faults.db_statement_timeout,
            pool=faults.db_pool_timeout,
        ),
    )
    if settings.migrate:
        await upgrade(database)
    catalog = load_catalog(settings.catalog_path or default_catalog_path())
    runtime = assemble(
        db=database,
        catalog=catalog,
        provider=instrumented(build_provider(database, settings)),
        clock=clock or SystemClock(),
    )
    runtime.stores = build_stores(settings.stores, catalog)
    runtime.entitlements.stale_for = faults.entitlements_stale_for
    reads = settings.reads
    runtime.entitlements.bounds = CacheBounds(reads.cache_entries, reads.cache_bytes)
    return runtime


async def bootstrap_key(runtime: Runtime, settings: Settings) -> None:
    if settings.api_key:
        await ensure_key(runtime.db, settings.api_key, name="bootstrap (TENURE_API_KEY)")
        return
    if not await any_key_exists(runtime.db):
        secret = generate_secret()
        await ensure_key(runtime.db, secret, name="bootstrap (generated)")
        # Shown once: only its hash is stored.
        sys.stderr.write(f"\nTenure API key (shown once, store it now): {secret}\n\n")
        sys.stderr.flush()


def token_verifier(settings: Settings) -> TokenVerifier | None:
    """End users' tokens for /v1/me, when the identity provider is configured."""
    if not (settings.jwt_jwks_url and settings.jwt_issuer and settings.jwt_audience):
        return None
    return TokenVerifier(
        TokenSettings(
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            subject_claim=settings.jwt_subject_claim,
            leeway=settings.jwt_leeway,
            refresh_interval=settings.jwt_jwks_refresh,
        )
    )


def hot_path_upkeep(settings: Settings) -> Any:
    """The second lifespan step, once the first has loaded everything: batched metric updates
    flushed every second (observability/metrics.py), and the garbage collector tuned
    (api/memory.py: everything loaded so far is frozen out of its sight)."""

    @contextlib.asynccontextmanager
    async def upkeep(_: Litestar) -> AsyncIterator[None]:
        flusher = asyncio.create_task(metrics.flush_forever())
        memory.tune(settings.reads)
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    return upkeep


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    logs.configure()  # once per process; a no-op when the CLI or a test configured it
    tracing.setup_from_env("api")
    RETRY_AFTER["seconds"] = settings.faults.retry_after
    holder: dict[str, GateState] = {}
    rules = ratelimit.parse_rules(settings.rate_limits)  # a bad TENURE_RATE_LIMITS stops here
    ready: dict[str, tuple[GateState, Runtime]] = {}
    upkeep = hot_path_upkeep(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await build_runtime(settings, clock)
        await bootstrap_key(runtime, settings)
        app.state.runtime = runtime
        app.state.gauges = SLOT.current = BusinessGauges()
        app.state.provider_webhooks = WebhookSecrets(
            stripe=settings.stripe_webhook_secrets,
            stripe_tolerance=settings.stripe_webhook_tolerance,
            adyen=settings.adyen_hmac_keys,
        )
        holder["gate"] = GateState(
            runtime.db,
            KeyRing(runtime.db),
            token_verifier(settings),
            ratelimit.build(rules, settings.redis_url),
            timedelta(hours=settings.idempotency_ttl_hours),
        )
        ready["fast"] = (holder["gate"], runtime)
        stop = asyncio.Event()
        worker = None
        if settings.embedded_worker:
            worker = asyncio.create_task(
                run_forever(runtime, interval=settings.worker_interval, stop=stop)
            )

        async def orphaned() -> None:
            stop.set()
            if worker is not None:
                await worker
            await runtime.db.dispose()

        # A worker process of `tenure serve` stops when the server's main process is gone.
        orphan_watch = asyncio.create_task(exit_with_parent(orphaned)) if wanted() else None
        log.info("tenure.started", database=runtime.db.dialect, catalog=runtime.catalog.source)
        try:
            yield
        finally:
            if orphan_watch is not None:
                orphan_watch.cancel()
            stop.set()
            if worker is not None:
                await worker
            ready.clear()
            await holder["gate"].keys.flush_usage()
            if holder["gate"].limits is not None:
                await holder["gate"].limits.aclose()
            await close_provider(runtime.provider)
            await runtime.stores.close()
            await runtime.db.dispose()

    app = Litestar(
        route_handlers=[
            *HEALTH_ROUTES,
            openapi_json,
            assets_router(),
            TestClockController,
            CustomerController,
            PaymentMethodController,
            entitlement_routes.by_customer,
            entitlement_routes.by_external_id,
            entitlement_routes.batch,
            entitlement_routes.GrantController,
            HouseholdController,
            accept_invite,
            SubscriptionController,
            RetentionController,
            PriceChangeController,
            InvoiceController,
            list_plans,
            list_events,
            PromoCodeController,
            list_event_types,
            get_event_type,
            WebhookEndpointController,
            stripe_webhook,
            adyen_notifications,
            *STORE_ROUTES,
            ApiKeyController,
            audit_log,
            MeController,
            export_customer,
            erase_customer,
        ],
        # Every route's scope (api/authz.py), then JSON bodies and known query parameters.
        guards=[require_scope, known_query_parameters],
        dependencies={"runtime": Provide(provide_runtime)},
        exception_handlers=cast(Any, EXCEPTION_HANDLERS),
        lifespan=[lifespan, upkeep],
        openapi_config=openapi.config([SwaggerPage()]),
        middleware=[cast(Any, lambda app: gate(app, lambda: holder.get("gate")))],
        debug=False,
        logging_config=None,  # logs go through tenure.observability.logs, like every process
    )
    # The hot entitlement reads (both routes) are answered from memory before Litestar when
    # they can be (api/fastpath.py); everything else, and every miss, takes the full path.
    # Outside both: request id, access log and HTTP metrics (observability/http.py), and the
    # request span.
    fast = fast_entitlements(cast(Any, app.asgi_handler), lambda: ready.get("fast"))
    # Limits (path, headers, body size and JSON depth) come first: nothing reads past them.
    fast = limited(fast, settings.faults)
    app.asgi_handler = cast(Any, tracing.asgi(observed(fast, access_log=settings.access_log)))
    return app
