"""What every command shares: options, the runtime, output (Rich or ``--json``), and errors as
one readable line with a non-zero exit code instead of a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import msgspec
import typer
from rich.console import Console

from tenure.api.app import build_runtime
from tenure.catalog.loader import CatalogError, load_catalog
from tenure.db.engine import Database
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import DomainError
from tenure.observability.redact import Scrubber
from tenure.payments.router import close_provider
from tenure.settings import Settings

console = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)  # stdout: what a command reports

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
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]

P = ParamSpec("P")
T = TypeVar("T")
_scrubber = Scrubber()


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit ``code``."""
    console.print(f"[red]error[/]: {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def describe(error: BaseException) -> str:
    """An exception as one line an operator can act on (scrubbed, no traceback)."""
    if isinstance(error, DomainError):
        return f"{error.message} ({error.code})"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    if "OperationalError" in name or "ConnectionRefused" in name or isinstance(error, OSError):
        return f"cannot use the database: {_scrubber.text(text) or name}"
    return f"{name}: {_scrubber.text(text)[:300]}" if text else name


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; any failure becomes one line and exit status 1."""
    try:
        return asyncio.run(coroutine)
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:
        fail(describe(error))


def check_catalog(catalog: Path | None) -> None:
    if catalog:
        try:
            load_catalog(catalog)
        except CatalogError as error:
            console.print(f"[red]catalog invalid[/]\n{error}")
            raise typer.Exit(2) from None


def settings_for(database_url: str, catalog: Path | None) -> Settings:
    """The environment's settings (provider, credentials, rate limit, Redis) with the
    command's database and catalog; never migrates."""
    return dataclasses.replace(
        Settings.from_env(),
        database_url=database_url,
        catalog_path=str(catalog) if catalog else None,
        migrate=False,
    )


def with_runtime(
    database_url: str, catalog: Path | None, work: Callable[[Runtime], Awaitable[T]]
) -> T:
    """Build a runtime (no migrations), run ``work``, dispose, and turn errors into one line."""
    check_catalog(catalog)

    async def _go() -> T:
        runtime = await build_runtime(settings_for(database_url, catalog))
        try:
            return await work(runtime)
        finally:
            await close_provider(runtime.provider)
            await runtime.db.dispose()

    return run(_go())


def with_database(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database (no migrations, no catalog), run ``work``, dispose."""

    async def _go() -> T:
        database = Database(database_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return run(_go())


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise NotImplementedError


def emit_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value, enc_hook=_default).decode() + "\n")
    sys.stdout.flush()


def ts(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def guarded(fn: Callable[P, T]) -> Callable[P, T]:
    """For commands that do not go through :func:`run`: errors as one line, exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as error:
            fail(describe(error))

    return wrapper
