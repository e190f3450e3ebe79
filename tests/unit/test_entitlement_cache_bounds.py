"""The entitlement cache is bounded by entries and by bytes, evicting the oldest read first."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.entitlements.read import CacheBounds, EntitlementReader, View, catalog_tag, render
from tenure.entitlements.rules import Projected
from tenure.read_settings import ReadSettings

CATALOG = load_catalog(default_catalog_path())
FREE = Projected("free", "active", "free", None, None, None, None, False, None)


def _view(n: int, *, padding: str = "") -> View:
    return render(
        CATALOG,
        catalog_tag(CATALOG),
        customer_id=f"cus_{n:026d}",
        external_id=f"user-{n}{padding}",
        test_clock_id=None,
        value=FREE,
        version=1,
    )


def _reader(bounds: CacheBounds) -> EntitlementReader:
    db: Any = None  # never asked: only the in-memory side is exercised
    return EntitlementReader(db, CATALOG, bounds=bounds)


def test_entries_bound_evicts_the_oldest_read_with_its_external_id() -> None:
    reader = _reader(CacheBounds(entries=3, bytes=10**9))
    for n in range(5):
        reader._keep(_view(n))
    assert reader.held[0] == 3
    assert reader.cached_customer(_view(0).customer_id) is None
    assert reader.cached_external("user-0") is None
    assert reader.last_known(_view(1).customer_id) is None
    assert [reader.cached_external(f"user-{n}") is not None for n in (2, 3, 4)] == [True] * 3
    reader._keep(_view(2))  # read again: now the newest
    reader._keep(_view(5))
    assert reader.cached_external("user-2") is not None
    assert reader.cached_external("user-3") is None


def test_bytes_bound_evicts_until_the_new_entry_fits() -> None:
    size = _view(0).size
    reader = _reader(CacheBounds(entries=1000, bytes=size * 4 + size // 2))
    for n in range(10):
        reader._keep(_view(n))
    entries, held = reader.held
    assert entries == 4 and held == sum(_view(n).size for n in range(6, 10))
    big = _view(99, padding="x" * size)  # about three ordinary entries (id and body grow)
    reader._keep(big)
    entries, held = reader.held
    assert held <= size * 4 + size // 2 and reader.cached_external(big.external_id) is big
    kept = [n for n in range(6, 10) if reader.cached_external(f"user-{n}") is not None]
    assert entries == len(kept) + 1 < 4 and kept == list(range(10 - len(kept), 10))  # the newest
    huge = _view(100, padding="y" * 10 * size)  # larger than the whole cache: not kept
    reader._keep(huge)
    assert reader.cached_external(huge.external_id) is None
    assert reader.held[1] <= size * 4 + size // 2


def test_invalidate_keeps_the_last_known_value_and_its_bytes() -> None:
    reader = _reader(CacheBounds(entries=10, bytes=10**9))
    view = _view(1)
    reader._keep(view)
    before = reader.held
    reader.invalidate([view.customer_id])
    assert reader.cached_customer(view.customer_id) is None
    known = reader.last_known(view.customer_id)
    assert known is not None and known.stale_age is not None and known.encoded == view.encoded
    assert reader.held == before
    reader._keep(view)
    assert reader.held == before  # replaced, not counted twice


def test_entry_size_estimate_covers_what_an_entry_really_holds() -> None:
    """``View.size`` (ENTRY_OVERHEAD + strings + rendered bytes) is at least what tracemalloc
    sees the cache hold per entry, so the byte bound bounds the process's memory."""
    reader = _reader(CacheBounds(entries=100_000, bytes=10**10))
    views = 5_000
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for n in range(views):
            reader._keep(_view(n))
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert used / views <= reader.held[1] / views, (used / views, reader.held[1] / views)


def test_bounds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENURE_ENTITLEMENT_CACHE_ENTRIES", "500")
    monkeypatch.setenv("TENURE_ENTITLEMENT_CACHE_BYTES", "1048576")
    monkeypatch.setenv("TENURE_GC_THRESHOLD", "1000, 5, 7")
    monkeypatch.setenv("TENURE_GC_FREEZE", "off")
    settings = ReadSettings.from_env()
    assert (settings.cache_entries, settings.cache_bytes) == (500, 1_048_576)
    assert settings.gc_threshold == (1000, 5, 7) and settings.gc_freeze is False
    monkeypatch.setenv("TENURE_GC_THRESHOLD", "0,1,2")
    with pytest.raises(ValueError, match="TENURE_GC_THRESHOLD"):
        ReadSettings.from_env()
    monkeypatch.delenv("TENURE_GC_THRESHOLD")
    monkeypatch.setenv("TENURE_ENTITLEMENT_CACHE_BYTES", "0")
    with pytest.raises(ValueError, match="at least 1"):
        ReadSettings.from_env()
