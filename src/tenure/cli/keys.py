"""``tenure keys create | list | revoke``: API keys without SQL.

A key's secret is shown once, by ``create``; only its SHA-256 hash is stored. Revoking takes
effect in every API process within a minute (their caches expire) and is idempotent. New key
attributes (scopes, expiry) go in ``access.keys.KeyInfo`` and show up here as columns.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tenure.access.keys import KeyInfo, create_key, list_keys, revoke_key
from tenure.cli.common import (
    DatabaseOption,
    JsonOption,
    console,
    emit_json,
    fail,
    out,
    ts,
    with_database,
)

app = typer.Typer(help="Manage API keys (the secret is shown once, at creation).")


def as_json(key: KeyInfo) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "active": key.active,
    }


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for (shown in lists).")],
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    json: JsonOption = False,
) -> None:
    """Create a key and print its secret once."""
    if not 1 <= len(name.strip()) <= 100:
        fail("--name must be 1 to 100 characters", 2)

    key, secret = with_database(database_url, lambda db: create_key(db, name=name.strip()))
    if json:
        emit_json({**as_json(key), "secret": secret})
        return
    out.print(f"created {key.id} ({key.name})")
    out.print(f"secret (shown once, store it now): {secret}", markup=False)


@app.command("list")
def list_(
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    active: Annotated[bool, typer.Option("--active", help="Only keys not revoked.")] = False,
    json: JsonOption = False,
) -> None:
    """List keys (never their secrets)."""

    keys = with_database(database_url, lambda db: list_keys(db, include_revoked=not active))
    if json:
        emit_json([as_json(key) for key in keys])
        return
    table = Table("id", "name", "created", "status")
    for key in keys:
        status = "active" if key.active else f"revoked {ts(key.revoked_at)}"
        table.add_row(key.id, key.name, ts(key.created_at), status)
    out.print(table)
    if not keys:
        console.print("no keys")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…), from `tenure keys list`.")],
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    json: JsonOption = False,
) -> None:
    """Revoke a key: every API process refuses it within a minute."""

    key = with_database(database_url, lambda db: revoke_key(db, key_id))
    if key is None:
        fail(f"no key {key_id!r}; see `tenure keys list`")
    if json:
        emit_json(as_json(key))
        return
    out.print(f"revoked {key.id} ({key.name}) at {ts(key.revoked_at)}")
