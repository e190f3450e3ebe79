"""``tenure keys create | list | revoke``: API keys without SQL.

A key's secret is shown once, by ``create``; only its SHA-256 hash and its first characters
(``prefix``) are stored. A key has a role (a person: viewer, support, finance, admin) or scopes
(a service); see docs/security.md. Revoking takes effect in every API process within a second
and is idempotent. The CLI acts as the operator (``cli``) in the audit log.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tenure.access.keys import KeyInfo, create_key, list_keys, revoke_key
from tenure.access.scopes import ROLES, SCOPES
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
from tenure.kernel.errors import DomainError

app = typer.Typer(help="Manage API keys (the secret is shown once, at creation).")


def as_json(key: KeyInfo) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "scopes": list(key.scopes),
        "prefix": key.prefix,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
        "active": key.active,
    }


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for (shown in lists).")],
    role: Annotated[
        str | None, typer.Option("--role", help=f"A person's role: {', '.join(ROLES)}.")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help=f"A service's scope (repeat): {', '.join(SCOPES)}."),
    ] = None,
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    json: JsonOption = False,
) -> None:
    """Create a key and print its secret once (without --role or --scope: an admin key)."""
    if not 1 <= len(name.strip()) <= 100:
        fail("--name must be 1 to 100 characters", 2)
    scopes = scope or (None if role else ["admin"])
    try:
        key, secret = with_database(
            database_url, lambda db: create_key(db, name=name.strip(), role=role, scopes=scopes)
        )
    except DomainError as error:
        fail(error.message, 2)
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
    table = Table("id", "name", "prefix", "role / scopes", "created", "last used", "status")
    for key in keys:
        status = "active" if key.active else f"revoked {ts(key.revoked_at)}"
        grant = key.role or " ".join(key.scopes)
        table.add_row(
            key.id,
            key.name,
            key.prefix or "",
            grant,
            ts(key.created_at),
            ts(key.last_used_at) if key.last_used_at else "never",
            status,
        )
    out.print(table)
    if not keys:
        console.print("no keys")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…), from `tenure keys list`.")],
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    json: JsonOption = False,
) -> None:
    """Revoke a key: every API process refuses it within a second."""

    key = with_database(database_url, lambda db: revoke_key(db, key_id))
    if key is None:
        fail(f"no key {key_id!r}; see `tenure keys list`")
    if json:
        emit_json(as_json(key))
        return
    out.print(f"revoked {key.id} ({key.name}) at {ts(key.revoked_at)}")
