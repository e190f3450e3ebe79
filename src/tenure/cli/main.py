"""``tenure``: serve, worker, migrate, catalog, keys, customer, events, subscription, check.

Every option also reads TENURE_*. Logs (JSON lines, or console lines in a terminal) go to
stderr; what a command reports goes to stdout (``--json`` for scripts). A command that fails
prints one line and exits non-zero.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console

from tenure import __version__
from tenure.api.app import bootstrap_key, build_runtime
from tenure.catalog.loader import CatalogError, load_catalog
from tenure.cli import check as check_command
from tenure.cli import customer, events, keys, secrets, subscription
from tenure.cli.common import (
    CatalogOption,
    DatabaseOption,
    check_catalog,
    fail,
    run,
    settings_for,
)
from tenure.cli.stores import stores_app
from tenure.db.engine import Database
from tenure.flows.runtime import Runtime
from tenure.migrations import upgrade
from tenure.observability import logs, tracing
from tenure.ops.readiness import schema_checks
from tenure.payments.router import close_provider
from tenure.settings import Settings
from tenure.workers.loop import run_forever, run_pass
from tenure.workers.relay import relay_forever

app = typer.Typer(help="Tenure: the subscription-lifecycle backend.", no_args_is_help=True)
catalog_app = typer.Typer(help="Work with catalog files.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(keys.app, name="keys", no_args_is_help=True)
app.add_typer(secrets.app, name="secrets", no_args_is_help=True)
app.add_typer(customer.app, name="customer", no_args_is_help=True)
app.add_typer(events.app, name="events", no_args_is_help=True)
app.add_typer(subscription.app, name="subscription", no_args_is_help=True)
app.command("check")(check_command.check)
app.add_typer(stores_app, name="stores")
console = Console(stderr=True)
log = structlog.get_logger("tenure.cli")
MetricsPortOption = Annotated[
    int | None,
    typer.Option(envvar="TENURE_METRICS_PORT", help="Serve this process's /metrics on this port."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tenure {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    logs.configure()


# --- serve ------------------------------------------------------------------------------------


def metrics_dir() -> tuple[Path, bool]:
    """The Prometheus multiprocess directory for this server's workers, emptied.

    ``PROMETHEUS_MULTIPROC_DIR`` when set (its old files removed: counters restart with the
    server), else a new temporary directory removed at exit. Returns (path, created).
    """
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    return Path(tempfile.mkdtemp(prefix="tenure-metrics-")), True


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="TENURE_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="TENURE_PORT")] = 8000,
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    workers: Annotated[
        int, typer.Option(envvar="TENURE_HTTP_WORKERS", help="HTTP worker processes.", min=1)
    ] = 1,
    embedded_worker: Annotated[
        bool, typer.Option(envvar="TENURE_EMBEDDED_WORKER", help="Run the worker loop in-process.")
    ] = True,
    migrate_first: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            envvar="TENURE_MIGRATE",
            help="Apply migrations before serving (off when a migration job does it).",
        ),
    ] = True,
) -> None:
    """Serve the API (and, by default, the worker) with Granian. Applies migrations first."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    settings = dataclasses.replace(
        Settings.from_env(),  # provider, credentials, TENURE_PROVIDER_RATE, TENURE_REDIS_URL
        database_url=database_url,
        catalog_path=str(catalog) if catalog else None,
        embedded_worker=embedded_worker,
        migrate=migrate_first,
    )
    check_catalog(catalog)
    run(_prepare(settings))
    directory, created = metrics_dir()
    os.environ.update(
        {
            "TENURE_DATABASE_URL": database_url,
            "TENURE_MIGRATE": "false",  # done above, once, before any worker process starts
            "TENURE_EMBEDDED_WORKER": "true" if embedded_worker else "false",
            # Every worker writes its metrics here; a scrape of any worker sums them all.
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
            # HTTP workers stop when this process dies (api/parent.py).
            "TENURE_EXIT_WITH_PARENT": "true",
        }
    )
    if catalog:
        os.environ["TENURE_CATALOG"] = str(catalog)
    # Workers start fresh (spawn, not fork): they import the metrics library with the
    # multiprocess directory set, and inherit no event loop or connection of this process.
    multiprocessing.set_start_method("spawn", force=True)
    log.info("tenure.serving", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/docs")
    try:
        Granian(
            "tenure.api.app:create_app",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            log_access=False,  # Tenure writes its own access line (request id, route template)
            log_level=LogLevels(logs.current_level()),
            log_dictconfig=logs.granian_config(),
        ).serve()
    finally:
        if created:
            shutil.rmtree(directory, ignore_errors=True)


async def _prepare(settings: Settings) -> None:
    runtime = await build_runtime(settings)
    try:
        await bootstrap_key(runtime, settings)
    finally:
        await close_provider(runtime.provider)
        await runtime.db.dispose()


# --- worker -----------------------------------------------------------------------------------


@app.command()
def worker(
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    once: Annotated[bool, typer.Option(help="Run one pass and exit.")] = False,
    interval: Annotated[float, typer.Option(envvar="TENURE_WORKER_INTERVAL")] = 1.0,
    metrics_port: MetricsPortOption = None,
    relay: Annotated[
        bool,
        typer.Option(
            envvar="TENURE_WORKER_RELAY",
            help="Also deliver events (webhooks, NATS); --no-relay leaves that to `tenure relay`.",
        ),
    ] = True,
) -> None:
    """Run the worker loop (renewals, expiries, payment recovery, event sequencing, relay).

    Exits 2 when the database is unreachable or not migrated, and (with --once) 1 when a step
    failed, each with one line saying why. SIGTERM/SIGINT: the batch in progress finishes (or
    its unsent deliveries are released), then it exits 0.
    """
    tracing.setup_from_env("worker")
    check_catalog(catalog)
    settings = settings_for(database_url, catalog)
    code = run(
        _work(settings, once=once, interval=interval, metrics_port=metrics_port, relay=relay)
    )
    if code:
        raise typer.Exit(code)


@app.command("relay")
def relay_command(
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    interval: Annotated[float, typer.Option(envvar="TENURE_WORKER_INTERVAL")] = 1.0,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Deliver events only (webhooks, NATS), for deployments that scale delivery apart from
    due work (`tenure worker --no-relay`). Any number can run. SIGTERM: the batch in flight
    finishes, unsent deliveries are released."""
    tracing.setup_from_env("relay")
    check_catalog(catalog)
    settings = settings_for(database_url, catalog)

    async def _relay() -> None:
        runtime = await build_runtime(settings)
        try:
            await _ready(runtime)
            _serve_metrics(metrics_port)
            await relay_forever(runtime, stop=_stop_on_signals(), interval=interval)
        finally:
            await close_provider(runtime.provider)
            await runtime.db.dispose()

    run(_relay())


def _serve_metrics(port: int | None) -> None:
    if port:
        from prometheus_client import start_http_server

        start_http_server(port)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _ready(runtime: Runtime) -> None:
    failing = [c for c in await schema_checks(runtime.db, limit_s=5.0) if not c.ok]
    if failing:
        fail("; ".join(f"{c.name}: {c.detail}" for c in failing), 2)


async def _work(
    settings: Settings, *, once: bool, interval: float, metrics_port: int | None, relay: bool
) -> int:
    runtime = await build_runtime(settings)
    try:
        await _ready(runtime)
        _serve_metrics(metrics_port)
        if once:
            result = await run_pass(runtime)
            console.print(f"handled {result.handled} item(s)")
            if result.failed:
                console.print(
                    f"[red]error[/]: step(s) failed: {', '.join(result.failed)} "
                    "(worker.step_failed in the log says why)"
                )
                return 1
            return 0
        await run_forever(runtime, interval=interval, stop=_stop_on_signals(), relay=relay)
        return 0
    finally:
        await close_provider(runtime.provider)
        await runtime.db.dispose()


# --- migrate, catalog -------------------------------------------------------------------------


@app.command()
def migrate(database_url: DatabaseOption = "sqlite:///./tenure.db") -> None:
    """Apply database migrations up to the latest."""

    async def _run() -> None:
        database = Database(database_url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    run(_run())
    console.print("migrations applied")


@catalog_app.command("validate")
def validate(path: Path) -> None:
    """Check a catalog file; prints every problem with its file, entry and reason."""
    try:
        catalog = load_catalog(path)
    except CatalogError as error:
        console.print(f"[red]{len(error.problems)} problem(s)[/]")
        for problem in error.problems:
            console.print(f"  {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(
        f"[green]ok[/] {path}: {len(catalog.markets)} markets, {len(catalog.products)} "
        f"products, {len(catalog.plans)} plans"
    )


if __name__ == "__main__":
    app()
