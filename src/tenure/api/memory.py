"""The garbage collector of an API worker, tuned once start-up is done (issue 17).

Python's default thresholds start a young collection every 700 net allocations of container
objects and a full one every 100 young ones; each full collection walks every object the
process holds (SQLAlchemy's compiled statements, Litestar's routes, the catalog, the cache), and
those pauses were about half of the entitlement read's p99. After start-up ``gc.freeze()`` moves
everything loaded so far to the permanent generation (never walked again), and the thresholds
(``TENURE_GC_THRESHOLD``) make collections rarer. Reference counting still frees almost every
request's objects at once; the collector only finds cycles. docs/performance.md has the
before/after measurement.
"""

from __future__ import annotations

import gc

import structlog

from tenure.read_settings import ReadSettings

log = structlog.get_logger(__name__)


_tuned: list[bool] = []


def tune(settings: ReadSettings) -> None:
    """Once per process (a worker starts one app; a test process starts hundreds, and what a
    freeze holds is never collected)."""
    if _tuned:
        return
    _tuned.append(True)
    gc.set_threshold(*settings.gc_threshold)
    if settings.gc_freeze:
        gc.collect()  # what is garbage now is not frozen
        gc.freeze()
    log.debug("gc.tuned", threshold=list(settings.gc_threshold), frozen=gc.get_freeze_count())
