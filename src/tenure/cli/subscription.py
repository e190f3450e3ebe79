"""``tenure subscription rerun ID``: run what is due for one subscription now."""

from __future__ import annotations

from typing import Annotated

import typer

from tenure.cli.common import (
    CatalogOption,
    DatabaseOption,
    JsonOption,
    emit_json,
    out,
    ts,
    with_runtime,
)
from tenure.ops.rerun import rerun as rerun_one

app = typer.Typer(help="Operate on one subscription.")


@app.command("rerun")
def rerun(
    subscription: Annotated[str, typer.Argument(help="The subscription id (sub_…).")],
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """Resolve its stuck payments and run its due actions (safe to repeat, safe beside a worker)."""
    result = with_runtime(database_url, catalog, lambda rt: rerun_one(rt, subscription))
    if json:
        emit_json(result.__dict__)
        return
    actions = ", ".join(result.actions) or "nothing was due"
    out.print(
        f"{result.subscription_id} at {ts(result.at)}: {result.status_before} → "
        f"{result.status_after}; actions: {actions}; payments resolved: "
        f"{result.payments_resolved}; next action {ts(result.next_action_at) or 'none'}"
    )
