"""API keys: bearer secrets stored as SHA-256 hashes, each with a role or a list of scopes."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access import audit
from tenure.access.models import ApiKey
from tenure.access.scopes import ADMIN, check_grant, scopes_of
from tenure.db.engine import Database
from tenure.db.errors import classify
from tenure.kernel.ids import new_id

log = structlog.get_logger(__name__)

PREFIX_LENGTH: Final = 10  # "sk_" + 7 characters: enough to tell keys apart, not to guess one


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key (``kind="key"``) or an end user's token (``kind="user"``,
    ``id`` is the customer's ``external_id``)."""

    kind: str
    id: str
    role: str | None
    scopes: frozenset[str]

    @property
    def person(self) -> bool:
        """A person acting through a role: their money and access actions need a reason."""
        return self.kind == "key" and self.role is not None

    @property
    def actor(self) -> str:
        return f"api:{self.id}" if self.kind == "key" else f"user:{self.id}"


def _principal(key: ApiKey) -> Principal:
    return Principal("key", key.id, key.role, scopes_of(key.role, key.scopes.split()))


async def ensure_key(
    database: Database, secret: str, *, name: str, scopes: Sequence[str] = (ADMIN,)
) -> str:
    """Register ``secret`` if it is new (a service key with ``scopes``); returns its key id."""
    digest = hash_secret(secret)
    try:
        async with database.transaction() as session:
            existing = await session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest))
            if existing is not None:
                return existing
            key = _new(secret, name=name, role=None, scopes=scopes)
            session.add(key)
            return key.id
    except IntegrityError:  # another process registered the same secret at the same moment
        async with database.read() as session:
            found = await session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest))
        if found is None:
            raise
        return found


def _new(secret: str, *, name: str, role: str | None, scopes: Sequence[str]) -> ApiKey:
    return ApiKey(
        id=new_id("key"),
        secret_hash=hash_secret(secret),
        name=name,
        created_at=datetime.now(UTC),
        revoked_at=None,
        role=role,
        scopes=" ".join(scopes),
        prefix=secret[:PREFIX_LENGTH],
        last_used_at=None,
    )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What an operator may see of a key (never its secret or hash)."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    role: str | None
    scopes: tuple[str, ...]
    prefix: str | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def info_of(key: ApiKey) -> KeyInfo:
    return KeyInfo(
        key.id,
        key.name,
        key.created_at,
        key.revoked_at,
        key.role,
        tuple(sorted(scopes_of(key.role, key.scopes.split()))),
        key.prefix,
        key.last_used_at,
    )


async def add_key(
    session: AsyncSession, *, name: str, role: str | None, scopes: Sequence[str] | None
) -> tuple[KeyInfo, str]:
    """A new key in the caller's transaction, and its secret (stored only as a hash: it cannot
    be shown again). Refuses an unknown role or scope, or both a role and scopes."""
    role, listed = check_grant(role, scopes)
    secret = generate_secret()
    key = _new(secret, name=name, role=role, scopes=listed)
    session.add(key)
    await session.flush()
    return info_of(key), secret


async def create_key(
    database: Database,
    *,
    name: str,
    role: str | None = None,
    scopes: Sequence[str] | None = None,
    actor: str = "cli",
) -> tuple[KeyInfo, str]:
    """A new key and its audit record, in one transaction (the API and the CLI)."""
    async with database.transaction() as session:
        info, secret = await add_key(session, name=name, role=role, scopes=scopes)
        await audit.write(
            session,
            actor=actor,
            action="create_api_key",
            target_type="api_key",
            target_id=info.id,
            after={"name": info.name, "role": info.role, "scopes": list(info.scopes)},
        )
    return info, secret


async def get_key(session: AsyncSession, key_id: str) -> KeyInfo | None:
    key = await session.get(ApiKey, key_id)
    return None if key is None else info_of(key)


async def search_keys(
    session: AsyncSession, *, include_revoked: bool = True, limit: int = 1000
) -> list[KeyInfo]:
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(limit)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return [info_of(key) for key in (await session.scalars(statement)).all()]


async def list_keys(database: Database, *, include_revoked: bool = True) -> list[KeyInfo]:
    async with database.read() as session:
        return await search_keys(session, include_revoked=include_revoked)


async def revoke_in(session: AsyncSession, key_id: str) -> KeyInfo | None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    key = await session.get(ApiKey, key_id, populate_existing=True)
    return None if key is None else info_of(key)


async def revoke_key(database: Database, key_id: str, *, actor: str = "cli") -> KeyInfo | None:
    """Revoke a key (idempotent); ``None`` if there is no such key. Every process stops
    accepting it within ``KeyRing.SWEEP`` seconds. The first revocation is audited."""
    async with database.transaction() as session:
        before = await get_key(session, key_id)
        if before is None:
            return None
        info = await revoke_in(session, key_id)
        if before.active:
            await audit.write(
                session,
                actor=actor,
                action="revoke_api_key",
                target_type="api_key",
                target_id=key_id,
                before={"status": "active"},
                after={"status": "revoked"},
            )
        return info


async def any_key_exists(database: Database) -> bool:
    async with database.read() as session:
        return await session.scalar(select(ApiKey.id).limit(1)) is not None


class KeyRing:
    """Resolves bearer secrets to principals, cached in process for ``TTL`` seconds.

    Revocation reaches every process within ``SWEEP`` seconds: at most once per ``SWEEP`` one
    query asks for keys revoked since the last look (one statement per process, however many
    keys), and the cache answers without I/O only while that look is recent. ``last_used_at``
    is kept in memory and written at most every ``USAGE_FLUSH`` seconds.
    """

    TTL: Final = 60.0
    STALE: Final = 900.0  # past TTL, while the database cannot be asked
    SWEEP: Final = 1.0
    USAGE_FLUSH: Final = 60.0
    # Revocations are looked up with this much overlap, for clocks that differ between hosts.
    SKEW: Final = timedelta(minutes=2)

    def __init__(self, database: Database) -> None:
        self._db = database
        self._known: dict[str, tuple[Principal, float]] = {}
        self._swept = time.monotonic()
        self._swept_wall = datetime.now(UTC)
        self._used: dict[str, datetime] = {}
        self._flushed = time.monotonic()

    async def resolve(self, secret: str) -> Principal | None:
        now = time.monotonic()
        if now - self._swept > self.SWEEP:
            await self._sweep(now)
        digest = hash_secret(secret)
        found = self._known.get(digest)
        if found is not None and found[1] >= now:
            principal = found[0]
        else:
            try:
                async with self._db.read() as session:
                    key = await session.scalar(
                        select(ApiKey).where(
                            ApiKey.secret_hash == digest, ApiKey.revoked_at.is_(None)
                        )
                    )
            except Exception as error:
                # The database is unavailable: a key this process knew recently stays known
                # (for at most STALE past its TTL), so entitlement reads keep answering through
                # an outage.
                failure = classify(error)
                unavailable = failure is not None and failure.kind == "unavailable"
                if unavailable and found is not None and now - found[1] <= self.STALE:
                    return found[0]
                raise
            if key is None:
                self._known.pop(digest, None)
                return None
            principal = _principal(key)
            self._known[digest] = (principal, now + self.TTL)
        self._used[principal.id] = datetime.now(UTC)
        return principal

    async def _sweep(self, now: float) -> None:
        self._swept = now  # concurrent requests do not sweep again meanwhile
        since = self._swept_wall - self.SKEW
        started = datetime.now(UTC)
        try:
            async with self._db.read() as session:
                revoked = (
                    await session.scalars(
                        select(ApiKey.secret_hash).where(ApiKey.revoked_at >= since)
                    )
                ).all()
        except (SQLAlchemyError, OSError) as error:
            # The database is unreachable: nothing can have been revoked through it either.
            # Keep serving what is cached; the next sweep looks again from the same point.
            log.warning("keys.sweep_failed", error=type(error).__name__)
            return
        self._swept_wall = started
        for digest in revoked:
            self._known.pop(digest, None)
        if now - self._flushed >= self.USAGE_FLUSH:
            try:
                await self.flush_usage()
            except (SQLAlchemyError, OSError) as error:  # only bookkeeping: try next time
                log.warning("keys.usage_flush_failed", error=type(error).__name__)

    async def flush_usage(self) -> None:
        """Write ``last_used_at`` for the keys used since the last flush (one statement each;
        a later time never goes backwards)."""
        used, self._used = self._used, {}
        self._flushed = time.monotonic()
        if not used:
            return
        async with self._db.transaction() as session:
            for key_id, at in used.items():
                await session.execute(
                    update(ApiKey)
                    .where(
                        ApiKey.id == key_id,
                        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < at),
                    )
                    .values(last_used_at=at)
                )
