"""``tenure check``: verify the invariants on a live database; exit 1 listing violations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from tenure.cli.common import (
    CatalogOption,
    DatabaseOption,
    JsonOption,
    console,
    emit_json,
    out,
    with_runtime,
)
from tenure.flows.runtime import Runtime
from tenure.ops.invariants import CHECKS, Result, run_checks


def check(
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run just this check (repeatable).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Verify the invariants on a live database; exit 1 listing violations.

    One live subscription per customer, periods tile, one successful attempt per paid invoice,
    amounts conserved, every state change has its event, entitlements equal a fresh
    computation, and more: `tenure check --json` lists them all.
    """
    names = {c.name for c in CHECKS}
    unknown = set(only or []) - names
    if unknown:
        console.print(f"[red]error[/]: unknown check(s) {sorted(unknown)}; known: {sorted(names)}")
        raise typer.Exit(2)
    selected = set(only) if only else None

    async def _go(runtime: Runtime) -> list[Result]:
        total = len(selected) if selected else len(CHECKS)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=json,
            transient=True,
        ) as progress:
            task = progress.add_task("checking", total=total)

            def done(result: Result) -> None:
                progress.update(task, advance=1, description=result.check)

            return await run_checks(runtime, only=selected, on_done=done)

    results = with_runtime(database_url, catalog, _go)
    failed = [r for r in results if not r.ok]
    if json:
        emit_json(
            {
                "ok": not failed,
                "checks": [
                    {
                        "name": r.check,
                        "description": r.description,
                        "ok": r.ok,
                        "violations": r.count,
                        "listed": [v.__dict__ for v in r.violations],
                    }
                    for r in results
                ],
            }
        )
    else:
        table = Table("check", "result", "what it means")
        for r in results:
            table.add_row(
                r.check,
                "[green]ok[/]" if r.ok else f"[red]{r.count} violation(s)[/]",
                r.description,
            )
        out.print(table)
        for r in failed:
            for v in r.violations:
                out.print(f"{v.check}  {v.subject}  {v.detail}", markup=False)
            if r.count > len(r.violations):
                out.print(f"{r.check}  … and {r.count - len(r.violations)} more", markup=False)
        out.print(
            f"{len(failed)} of {len(results)} checks failed" if failed else "all checks passed"
        )
    if failed:
        raise typer.Exit(1)
