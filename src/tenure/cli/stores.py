"""``tenure stores``: try the App Store and Google Play integrations against ``make run``.

    tenure stores samples setup         # keys + .tenure/stores/env
    set -a; . .tenure/stores/env; set +a; make run
    tenure stores samples send          # posts the sample notifications, prints what moved
    tenure stores samples fakes         # (optional) keep the fake store APIs running

The fakes trust nothing real and nothing real trusts them: only a Tenure started with the
environment file (a test root certificate, Sandbox, online checks off) accepts the samples.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from tenure.storefakes import samples

stores_app = typer.Typer(help="App Store and Google Play helpers.", no_args_is_help=True)
samples_app = typer.Typer(help="Sample store notifications for make run.", no_args_is_help=True)
stores_app.add_typer(samples_app, name="samples")
console = Console(stderr=True)

DirOption = Annotated[
    Path, typer.Option("--dir", help="Where the sample keys and the env file live.")
]
PortOption = Annotated[int, typer.Option("--port", help="Port of the fake store APIs.")]


@samples_app.command("setup")
def setup(dir: DirOption = samples.DEFAULT_DIR, port: PortOption = samples.DEFAULT_PORT) -> None:
    """Write a test key chain and an environment file that makes Tenure trust the samples."""
    env = samples.setup(dir, port=port)
    console.print(f"wrote {env}; start Tenure with it:")
    console.print(f"  set -a; . {env}; set +a; make run", highlight=False)


@samples_app.command("send")
def send(
    url: Annotated[str, typer.Option("--url", envvar="TENURE_URL")] = "http://127.0.0.1:8000",
    customer: Annotated[str | None, typer.Option("--customer")] = None,
    dir: DirOption = samples.DEFAULT_DIR,
    port: PortOption = samples.DEFAULT_PORT,
) -> None:
    """Post the sample App Store and Google Play notifications to a running Tenure."""
    api_key = os.environ.get("TENURE_API_KEY") or "tenure_dev_key"
    fakes = samples.load_fakes(dir, port=port)
    server = fakes.server(port).start()

    async def run() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await samples.send(client, fakes, api_key=api_key, customer=customer, say=print)

    try:
        asyncio.run(run())
    except httpx.HTTPStatusError as error:
        console.print(f"[red]{error.response.status_code}[/] {error.response.text}")
        raise typer.Exit(1) from None
    finally:
        server.stop()


@samples_app.command("fakes")
def fakes(dir: DirOption = samples.DEFAULT_DIR, port: PortOption = samples.DEFAULT_PORT) -> None:
    """Run the fake App Store Server API and Play Developer API in the foreground."""
    server = samples.load_fakes(dir, port=port).server(port)
    console.print(f"fake store APIs on {server.url} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
