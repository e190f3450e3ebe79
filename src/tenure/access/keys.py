"""API keys: bearer secrets stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tenure.access.models import ApiKey
from tenure.db.engine import Database
from tenure.db.errors import classify
from tenure.kernel.ids import new_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


async def ensure_key(database: Database, secret: str, *, name: str) -> str:
    """Register ``secret`` if it is new; returns its key id."""
    digest = hash_secret(secret)
    try:
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
    except IntegrityError:  # another process registered the same secret at the same moment
        async with database.read() as session:
            found = await session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest))
        if found is None:
            raise
        return found


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What an operator may see of a key (never its secret or hash). Scopes will join here."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(key.id, key.name, key.created_at, key.revoked_at)


async def create_key(database: Database, *, name: str) -> tuple[KeyInfo, str]:
    """A new key and its secret; the secret is not stored (only its hash) and cannot be shown
    again."""
    secret = generate_secret()
    key_id = await ensure_key(database, secret, name=name)
    async with database.read() as session:
        key = await session.get(ApiKey, key_id)
        assert key is not None
        return _info(key), secret


async def list_keys(database: Database, *, include_revoked: bool = True) -> list[KeyInfo]:
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    async with database.read() as session:
        return [_info(key) for key in (await session.scalars(statement)).all()]


async def revoke_key(database: Database, key_id: str) -> KeyInfo | None:
    """Revoke a key (idempotent); ``None`` if there is no such key. Every process stops
    accepting it within ``KeyRing.TTL`` seconds."""
    async with database.transaction() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        key = await session.get(ApiKey, key_id)
        return None if key is None else _info(key)


async def any_key_exists(database: Database) -> bool:
    async with database.read() as session:
        return await session.scalar(select(ApiKey.id).limit(1)) is not None


class KeyRing:
    """Resolves bearer secrets to key ids; positive answers are cached in process for ``TTL``
    seconds, so a revoked key stops working everywhere within that time."""

    TTL: Final = 60.0
    STALE: Final = 900.0  # past TTL, while the database cannot be asked

    def __init__(self, database: Database) -> None:
        self._db = database
        self._known: dict[str, tuple[str, float]] = {}

    def known(self, secret: str) -> str | None:
        """The key id of a secret already seen in this process (no I/O), else None."""
        found = self._known.get(hash_secret(secret))
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    async def resolve(self, secret: str) -> str | None:
        digest = hash_secret(secret)
        found = self._known.get(digest)
        if found is not None and found[1] >= time.monotonic():
            return found[0]
        try:
            async with self._db.read() as session:
                key_id = await session.scalar(
                    select(ApiKey.id).where(
                        ApiKey.secret_hash == digest, ApiKey.revoked_at.is_(None)
                    )
                )
        except Exception as error:
            # The database is unavailable: a key this process knew recently stays known (for
            # at most STALE), so entitlement reads keep answering through an outage.
            failure = classify(error)
            unavailable = failure is not None and failure.kind == "unavailable"
            if unavailable and found is not None and time.monotonic() - found[1] <= self.STALE:
                return found[0]
            raise
        if key_id is not None:
            self._known[digest] = (key_id, time.monotonic() + self.TTL)
        else:
            self._known.pop(digest, None)
        return key_id
