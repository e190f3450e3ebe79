"""``tenure events replay``: send events to a destination again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from tenure.api.deps import parse_time
from tenure.cli.common import (
    CatalogOption,
    DatabaseOption,
    JsonOption,
    console,
    emit_json,
    fail,
    out,
    with_runtime,
)
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import DomainError
from tenure.ops import replay as replays

app = typer.Typer(help="Work with the event outbox.")


@app.command("replay")
def replay(
    to: Annotated[
        str,
        typer.Option("--to", help="A webhook endpoint id (we_…) or `nats`.", show_default=False),
    ],
    since: Annotated[
        str | None, typer.Option(help="Events created at or after this RFC 3339 time.")
    ] = None,
    event: Annotated[str | None, typer.Option(help="Just this event (evt_…).")] = None,
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """Queue events for delivery again (same event ids: receivers deduplicate).

    The relay of a running worker or server sends them.
    """
    if (since is None) == (event is None):
        fail("give either --since or --event", 2)
    try:
        start = parse_time(since, "--since") if since is not None else None
    except DomainError as error:
        fail(error.message, 2)

    async def _go(runtime: Runtime) -> int:
        total = await replays.size(runtime, since=start, event_id=event)
        with Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=json or total <= replays.CHUNK,
        ) as progress:
            task = progress.add_task("replay", total=total)
            seen = {"events": 0}

            def chunk(_: int, __: int) -> None:
                seen["events"] = min(total, seen["events"] + replays.CHUNK)
                progress.update(task, completed=seen["events"])

            return await replays.replay(runtime, to, since=start, event_id=event, on_chunk=chunk)

    queued = with_runtime(database_url, catalog, _go)
    if json:
        emit_json({"destination": to, "queued": queued})
    else:
        out.print(f"queued {queued} deliveries for {to}; a running relay sends them")
