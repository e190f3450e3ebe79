"""The hot read: one indexed lookup (Core, no ORM objects), or an in-process cache hit.

The cache holds the rendered response per customer for ``CACHE_TTL`` seconds. Changes made
by this process drop the entries they touched as soon as they commit; changes made by other
processes are seen after at most ``CACHE_TTL``. It is bounded twice, by entries and by bytes
(``CacheBounds``: TENURE_ENTITLEMENT_CACHE_ENTRIES, TENURE_ENTITLEMENT_CACHE_BYTES), evicting
the entry read longest ago; an evicted customer is read again from the database. Responses
advertise ``max-age=MAX_AGE``, so a caller that honours it is never more than
``MAX_AGE + CACHE_TTL`` seconds behind; the ``entitlements.changed`` event tells it sooner.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import bindparam, select

from tenure.catalog.model import Catalog
from tenure.db.engine import Database
from tenure.db.errors import classify
from tenure.entitlements.projection import VALUE_COLUMNS, projected_of, table
from tenure.entitlements.rules import Projected, enabled
from tenure.kernel.clock import rfc3339
from tenure.observability.metrics import ENTITLEMENT_CACHE, Tally

CACHE_TTL: Final = 1.0  # seconds an entry is served without asking the database
MAX_AGE: Final = 5  # Cache-Control max-age advertised to callers
MAX_ENTRIES: Final = 100_000  # customers kept (fresh or last known), by default
MAX_BYTES: Final = 64 * 1024 * 1024  # what those entries may hold, by default
# What one entry holds besides its strings and rendered bytes (the View and its Projected,
# the dictionary slots, the external-id index): measured with tracemalloc
# (tests/unit/test_entitlement_cache_bounds.py keeps the estimate honest).
ENTRY_OVERHEAD: Final = 1_024
BATCH_LIMIT: Final = 500
_HITS: Final = Tally(ENTITLEMENT_CACHE.labels("hit"))
_MISSES: Final = Tally(ENTITLEMENT_CACHE.labels("miss"))
_STALE: Final = ENTITLEMENT_CACHE.labels("stale")

_COLUMNS = [table.c.customer_id, table.c.external_id, table.c.test_clock_id, table.c.version] + [
    table.c[name] for name in VALUE_COLUMNS
]
BY_CUSTOMER = select(*_COLUMNS).where(table.c.customer_id == bindparam("key"))
BY_EXTERNAL = select(*_COLUMNS).where(table.c.external_id == bindparam("key"))
MANY_BY_CUSTOMER = select(*_COLUMNS).where(
    table.c.customer_id.in_(bindparam("keys", expanding=True))
)
MANY_BY_EXTERNAL = select(*_COLUMNS).where(
    table.c.external_id.in_(bindparam("keys", expanding=True))
)
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class View:
    """One customer's entitlements, rendered once."""

    customer_id: str
    external_id: str
    test_clock_id: str | None
    value: Projected
    version: int
    etag: str
    encoded: bytes
    # Set when the database could not be asked and this is the last value known to this
    # process: seconds since it was read (the API says so in a header).
    stale_age: float | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The response as a dict (the batch read, the change event): decoded when asked, so
        the cache keeps only the rendered bytes."""
        decoded: dict[str, Any] = msgspec.json.decode(self.encoded)
        return decoded

    @property
    def size(self) -> int:
        """What this view costs the cache, in bytes (counted against ``CacheBounds.bytes``)."""
        text = len(self.customer_id) + len(self.external_id) + len(self.etag)
        return ENTRY_OVERHEAD + text + len(self.encoded)


@dataclass(frozen=True, slots=True)
class CacheBounds:
    """How much the entitlement cache may hold: at most ``entries`` customers and ``bytes``
    bytes (``View.size``), whichever is reached first."""

    entries: int = MAX_ENTRIES
    bytes: int = MAX_BYTES


def catalog_tag(catalog: Catalog) -> str:
    """Part of the ETag: features come from the catalog, so a catalog edit changes the tag."""
    text = repr(sorted((p.id, sorted(p.features.items())) for p in catalog.products.values()))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def render(
    catalog: Catalog,
    tag: str,
    *,
    customer_id: str,
    external_id: str,
    test_clock_id: str | None,
    value: Projected,
    version: int,
    exact: bool = True,
) -> View:
    """``exact=False`` marks a view computed on the fly (no row, or a row the worker has not
    caught up with): its ETag also depends on the body, so it never collides with the row's."""
    product = catalog.products.get(value.product) or catalog.free
    features = enabled(product.features)
    for addon_id in filter(None, value.addons.split(",")):
        addon = catalog.products.get(addon_id)
        if addon is not None:
            features.update(enabled(addon.features))
    body = {
        "object": "entitlements",
        "customer": customer_id,
        "external_id": external_id,
        "product": product.id,
        "status": value.status,
        "source": value.source,
        "subscription": value.subscription_id,
        "household": value.household_id,
        "grant": value.grant_id,
        "features": sorted(features),
        "feature_values": features,
        "valid_until": None if value.valid_until is None else rfc3339(value.valid_until),
        "billing_issue": value.billing_issue,
        "version": version,
    }
    encoded = _encoder.encode(body)
    etag = f"{version}.{tag}"
    if not exact:
        etag += "." + hashlib.sha256(encoded).hexdigest()[:8]
    return View(customer_id, external_id, test_clock_id, value, version, f'"{etag}"', encoded)


# What a read in flight ends with: its view (None: no row) or its error; None when it was
# cancelled before it knew.
_Outcome = tuple[View | None, Exception | None] | None


class EntitlementReader:
    """Cached reads; during a database outage, the last value known to this process.

    ``stale_for`` bounds how old a last known value may be when the database cannot be asked
    (TENURE_ENTITLEMENTS_STALE_FOR); a customer this process never read, or read longer ago,
    or whose entry the bounds evicted, raises the database's error (the API answers 503).

    One entry per customer, in the order they were read: ``(read_at, view, fresh)``. A change
    committed by this process marks the entry not fresh (the next read asks the database) but
    keeps the value, so an outage right after a write still has something to answer.
    """

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        *,
        ttl: float = CACHE_TTL,
        stale_for: float = 900.0,
        bounds: CacheBounds | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.tag = catalog_tag(catalog)
        self.ttl = ttl
        self.stale_for = stale_for
        self.bounds = bounds or CacheBounds()
        self._entries: dict[str, tuple[float, View, bool]] = {}
        self._by_external: dict[str, str] = {}  # of the customers in _entries
        self._bytes = 0  # the sum of the entries' View.size
        # Reads in flight, by ("customer" | "external", id): see ``_read``.
        self._flights: dict[tuple[str, str], asyncio.Future[_Outcome]] = {}

    @property
    def held(self) -> tuple[int, int]:
        """Entries and bytes held now."""
        return len(self._entries), self._bytes

    def invalidate(self, customer_ids: Iterable[str]) -> None:
        for customer_id in customer_ids:
            found = self._entries.get(customer_id)
            if found is not None and found[2]:
                self._entries[customer_id] = (found[0], found[1], False)

    def clear(self) -> None:
        """Every entry not fresh (the next reads ask the database); last known values stay."""
        self.invalidate(list(self._entries))

    def cached_external(self, external_id: str) -> View | None:
        """A fresh cached view for ``external_id``, from memory only (no I/O): the fast path."""
        return self._cached(self._by_external.get(external_id))

    def cached_customer(self, customer_id: str) -> View | None:
        """A fresh cached view for ``customer_id``, from memory only (no I/O): the fast path."""
        return self._cached(customer_id)

    def _cached(self, customer_id: str | None) -> View | None:
        if customer_id is None:
            return None
        found = self._entries.get(customer_id)
        if found is None or not found[2] or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1]

    def _keep(self, view: View) -> None:
        self._drop(view.customer_id)  # re-inserted last: eviction takes the oldest read
        size = view.size
        entries, limit = self.bounds.entries, self.bounds.bytes
        while self._entries and (len(self._entries) >= entries or self._bytes + size > limit):
            self._drop(next(iter(self._entries)))
        if size > limit or entries < 1:
            return  # larger than the whole cache: not kept
        self._entries[view.customer_id] = (time.monotonic(), view, True)
        self._by_external[view.external_id] = view.customer_id
        self._bytes += size

    def _drop(self, customer_id: str) -> None:
        found = self._entries.pop(customer_id, None)
        if found is not None:
            view = found[1]
            self._bytes -= view.size
            if self._by_external.get(view.external_id) == customer_id:
                del self._by_external[view.external_id]

    def last_known(self, customer_id: str | None) -> View | None:
        """The last value read for the customer, marked stale, if within ``stale_for``."""
        found = self._entries.get(customer_id) if customer_id is not None else None
        if found is None:
            return None
        age = time.monotonic() - found[0]
        if age > self.stale_for:
            return None
        return replace(found[1], stale_age=age)

    def _fallback(self, error: Exception, customer_id: str | None) -> View:
        failure = classify(error)
        view = self.last_known(customer_id) if failure and failure.kind == "unavailable" else None
        if view is None:
            raise error
        _STALE.inc()
        return view

    def _view(self, row: Any) -> View:
        return render(
            self.catalog,
            self.tag,
            customer_id=row.customer_id,
            external_id=row.external_id,
            test_clock_id=row.test_clock_id,
            value=projected_of(row._mapping),
            version=row.version,
        )

    async def one(
        self, *, customer_id: str | None = None, external_id: str | None = None
    ) -> View | None:
        """The customer's view; ``None`` when there is no projection row (see ``stale``)."""
        key = customer_id if customer_id is not None else self._by_external.get(external_id or "")
        hit = self._cached(key)
        if hit is not None:
            _HITS.inc()
            return hit
        _MISSES.inc()
        try:
            if customer_id is not None:
                return await self._read(("customer", customer_id), BY_CUSTOMER, customer_id)
            return await self._read(("external", external_id or ""), BY_EXTERNAL, external_id)
        except Exception as error:
            return self._fallback(error, key)

    async def _read(self, flight: tuple[str, str], statement: Any, value: Any) -> View | None:
        """One indexed read per key at a time: requests that miss the same customer while its
        read is in flight (the hot set when its entries expire together) wait for that read
        instead of each asking the database."""
        while (waiter := self._flights.get(flight)) is not None:
            shared = await asyncio.shield(waiter)
            if shared is not None:  # None: the first reader was cancelled; read again
                view, error = shared
                if error is not None:
                    raise error
                return view
        flight_done: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
        self._flights[flight] = flight_done
        outcome: _Outcome = None
        try:
            async with self.db.read_engine.connect() as connection:
                row = (await connection.execute(statement, {"key": value})).first()
            view = None if row is None else self._view(row)
            if view is not None:
                self._keep(view)
            outcome = (view, None)
            return view
        except Exception as error:
            outcome = (None, error)
            raise
        finally:
            del self._flights[flight]
            flight_done.set_result(outcome)

    async def many(self, *, by_external: bool, keys: Sequence[str]) -> dict[str, View]:
        """Views keyed by the given keys (customer or external ids), in one query for misses."""
        found: dict[str, View] = {}
        misses: list[str] = []
        for key in keys:
            cid = self._by_external.get(key) if by_external else key
            hit = self._cached(cid)
            if hit is not None:
                found[key] = hit
            else:
                misses.append(key)
        _HITS.inc(len(found))
        _MISSES.inc(len(misses))
        if misses:
            statement = MANY_BY_EXTERNAL if by_external else MANY_BY_CUSTOMER
            try:
                async with self.db.read_engine.connect() as connection:
                    rows = (await connection.execute(statement, {"keys": misses})).all()
            except Exception as error:
                # All or nothing: a batch answers only if every id has a last known value.
                for key in misses:
                    found[key] = self._fallback(
                        error, self._by_external.get(key) if by_external else key
                    )
                return found
            for row in rows:
                view = self._view(row)
                self._keep(view)
                found[view.external_id if by_external else view.customer_id] = view
        return found


def stale(view: View, wall_now: datetime) -> bool:
    """A real-time row whose value ends by time alone (a grant) and the worker is behind."""
    expires = view.value.expires_at
    return view.test_clock_id is None and expires is not None and expires <= wall_now


CACHE_CONTROL: Final = f"private, max-age={MAX_AGE}"


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` semantics: ``*``, or any listed tag (weak or strong) equal to ``etag``."""
    if header.strip() == "*":
        return True
    return any(part.strip().removeprefix("W/") == etag for part in header.split(","))
