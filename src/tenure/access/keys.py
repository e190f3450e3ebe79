"""API keys: bearer secrets stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from tenure.access.models import ApiKey
from tenure.db.engine import Database
from tenure.kernel.ids import new_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


async def ensure_key(database: Database, secret: str, *, name: str) -> str:
    """Register ``secret`` if it is new; returns its key id."""
    digest = hash_secret(secret)
    async with database.transaction() as session:
        existing = await session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest))
        if existing is not None:
            return existing
        key = ApiKey(
            id=new_id("key"),
            secret_hash=digest,
            name=name,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        session.add(key)
        return key.id


async def any_key_exists(database: Database) -> bool:
    async with database.read() as session:
        return await session.scalar(select(ApiKey.id).limit(1)) is not None


class KeyRing:
    """Resolves bearer secrets to key ids; positive answers are cached in process."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._known: dict[str, str] = {}

    def known(self, secret: str) -> str | None:
        """The key id of a secret already seen in this process (no I/O), else None."""
        return self._known.get(hash_secret(secret))

    async def resolve(self, secret: str) -> str | None:
        digest = hash_secret(secret)
        if (key_id := self._known.get(digest)) is not None:
            return key_id
        async with self._db.read() as session:
            key_id = await session.scalar(
                select(ApiKey.id).where(ApiKey.secret_hash == digest, ApiKey.revoked_at.is_(None))
            )
        if key_id is not None:
            self._known[digest] = key_id
        return key_id
