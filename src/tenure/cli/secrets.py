"""``tenure secrets generate-key | reencrypt``: secrets at rest (db/crypto.py).

Rotation without downtime: deploy ``TENURE_SECRET_KEY=new,old``; run ``tenure secrets
reencrypt`` (batches of 500, each its own short transaction, safe to run again); then deploy
``TENURE_SECRET_KEY=new``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tenure.cli.common import DatabaseOption, JsonOption, emit_json, fail, out, with_database
from tenure.db import crypto
from tenure.db.engine import Database
from tenure.webhooks.service import reencrypt_secrets

app = typer.Typer(help="Secrets at rest: keys and re-encryption (TENURE_SECRET_KEY).")


@app.command("generate-key")
def generate_key() -> None:
    """Print a new key for TENURE_SECRET_KEY (put it first to rotate: new,old)."""
    out.print(crypto.generate_key(), markup=False)


async def _reencrypt(database: Database, batch: int) -> int:
    done, after = 0, None
    while True:
        async with database.transaction() as session:
            ids = await reencrypt_secrets(session, after=after, limit=batch)
        if not ids:
            return done
        done += len(ids)
        after = ids[-1]


@app.command("reencrypt")
def reencrypt(
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000)] = 500,
    json: JsonOption = False,
) -> None:
    """Rewrite every stored secret with the first key of TENURE_SECRET_KEY."""
    try:
        if not crypto.enabled():
            fail("set TENURE_SECRET_KEY first (`tenure secrets generate-key` makes one)", 2)
        count = with_database(database_url, lambda db: _reencrypt(db, batch))
    except (crypto.SecretKeyError, ValueError) as error:
        fail(str(error), 2)
    if json:
        emit_json({"reencrypted": count})
        return
    out.print(f"re-encrypted the secrets of {count} webhook endpoint(s) with the current key")
