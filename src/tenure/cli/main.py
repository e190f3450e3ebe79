"""``tenure serve | worker | migrate | catalog validate``. Every option also reads TENURE_*."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tenure.api.app import bootstrap_key, build_runtime
from tenure.catalog.loader import CatalogError, load_catalog
from tenure.cli.stores import stores_app
from tenure.db.engine import Database
from tenure.migrations import upgrade
from tenure.payments.router import close_provider
from tenure.settings import Settings
from tenure.workers.loop import run_forever, run_once

app = typer.Typer(help="Tenure: the subscription-lifecycle backend.", no_args_is_help=True)
catalog_app = typer.Typer(help="Work with catalog files.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(stores_app, name="stores")
console = Console(stderr=True)

DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="TENURE_DATABASE_URL",
        help="sqlite:///./tenure.db (default) or postgresql://user@host/db",
    ),
]
CatalogOption = Annotated[
    Path | None,
    typer.Option("--catalog", envvar="TENURE_CATALOG", help="Your catalog file (TOML)."),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="TENURE_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="TENURE_PORT")] = 8000,
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    workers: Annotated[
        int, typer.Option(envvar="TENURE_HTTP_WORKERS", help="HTTP worker processes.")
    ] = 1,
    embedded_worker: Annotated[
        bool, typer.Option(envvar="TENURE_EMBEDDED_WORKER", help="Run the worker loop in-process.")
    ] = True,
) -> None:
    """Serve the API (and, by default, the worker) with Granian. Applies migrations first."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = dataclasses.replace(
        Settings.from_env(),
        database_url=database_url,
        catalog_path=str(catalog) if catalog else None,
        embedded_worker=embedded_worker,
        migrate=True,
    )
    _check_catalog(settings)
    asyncio.run(_prepare(settings))
    os.environ.update(
        {
            "TENURE_DATABASE_URL": database_url,
            "TENURE_MIGRATE": "false",  # done above, once, before any worker process starts
            "TENURE_EMBEDDED_WORKER": "true" if embedded_worker else "false",
        }
    )
    if catalog:
        os.environ["TENURE_CATALOG"] = str(catalog)
    console.print(f"[bold]Tenure[/] on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    Granian(
        "tenure.api.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_access=False,
    ).serve()


async def _prepare(settings: Settings) -> None:
    runtime = await build_runtime(settings)
    try:
        await bootstrap_key(runtime, settings)
    finally:
        await close_provider(runtime.provider)
        await runtime.db.dispose()


def _check_catalog(settings: Settings) -> None:
    if settings.catalog_path:
        try:
            load_catalog(settings.catalog_path)
        except CatalogError as error:
            console.print(f"[red]catalog invalid[/]\n{error}")
            raise typer.Exit(2) from None


@app.command()
def worker(
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    once: Annotated[bool, typer.Option(help="Run one pass and exit.")] = False,
    interval: Annotated[float, typer.Option(envvar="TENURE_WORKER_INTERVAL")] = 1.0,
) -> None:
    """Run the worker loop (renewals, expiries, payment recovery, event sequencing)."""
    settings = dataclasses.replace(
        Settings.from_env(),  # provider, credentials, TENURE_PROVIDER_RATE, TENURE_REDIS_URL
        database_url=database_url,
        catalog_path=str(catalog) if catalog else None,
        migrate=False,
    )
    _check_catalog(settings)
    asyncio.run(_work(settings, once=once, interval=interval))


async def _work(settings: Settings, *, once: bool, interval: float) -> None:
    runtime = await build_runtime(settings)
    try:
        if once:
            handled = await run_once(runtime)
            console.print(f"handled {handled} item(s)")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_forever(runtime, interval=interval, stop=stop)
    finally:
        await close_provider(runtime.provider)
        await runtime.db.dispose()


@app.command()
def migrate(database_url: DatabaseOption = "sqlite:///./tenure.db") -> None:
    """Apply database migrations up to the latest."""

    async def _run() -> None:
        database = Database(database_url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(_run())
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
