"""Prometheus metrics of every Tenure process (served at ``GET /metrics``).

Labels stay low-cardinality: routes by template (``/v1/subscriptions/{subscription_id}``), never
by id; webhook endpoints by endpoint id (an operator-controlled, small set).

Several processes: ``tenure serve`` runs its Granian workers in Prometheus multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set and emptied by ``tenure serve``), so every worker's counters
land in one directory and a scrape answered by any worker sums them all. ``tenure worker`` is
one process and serves its own registry (``--metrics-port``). Business gauges (subscriptions,
MRR, lags) are computed in SQL at scrape time, cached (``observability.gauges``).
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from typing import Any, Final

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

_FAST: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SLOW: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS: Final = Counter(
    "tenure_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY: Final = Histogram(
    "tenure_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=_FAST,
)
WORKER_ITEMS: Final = Counter(
    "tenure_worker_items_total", "Items the worker handled, by step", ["step"]
)
WORKER_FAILURES: Final = Counter(
    "tenure_worker_step_failures_total", "Worker steps that raised, by step", ["step"]
)
WORKER_STEP_SECONDS: Final = Histogram(
    "tenure_worker_step_duration_seconds",
    "Time one worker step (one pass over its due work, in batches) took",
    ["step"],
    buckets=_SLOW,
)
BATCH_SECONDS: Final = Histogram(
    "tenure_worker_batch_duration_seconds",
    "One batch: a due-work batch (claim, write, charge, record) or a relay drain of one kind",
    ["kind"],
    buckets=_SLOW,
)
PAYMENTS: Final = Counter(
    "tenure_payment_outcomes_total", "Payment attempts by outcome", ["outcome"]
)
CHARGES: Final = Counter(
    "tenure_charges_total",
    "Recorded charge outcomes by billing reason (subscription_cycle and trial_end are "
    "renewals), outcome and decline class (soft: may succeed on retry; hard: needs a new card)",
    ["reason", "outcome", "decline_class"],
)
PROVIDER_LATENCY: Final = Histogram(
    "tenure_provider_call_duration_seconds",
    "Payment provider calls by operation and outcome",
    ["provider", "operation", "outcome"],
    buckets=_FAST,
)
ENTITLEMENT_CACHE: Final = Counter(
    "tenure_entitlement_cache_total", "Entitlement reads by cache result", ["result"]
)
WEBHOOK_LATENCY: Final = Histogram(
    "tenure_webhook_delivery_duration_seconds",
    "Webhook POSTs by endpoint, until the receiver answered or the attempt failed",
    ["endpoint"],
    buckets=_SLOW,
)
WEBHOOK_DELIVERIES: Final = Counter(
    "tenure_webhook_deliveries_total",
    "Webhook delivery attempts by endpoint and outcome (delivered, failed)",
    ["endpoint", "outcome"],
)
RELAY_OUTCOMES: Final = Counter(
    "tenure_relay_deliveries_total",
    "Delivery attempts by kind of destination (webhook, nats) and result: delivered, pending "
    "(failed, retried later), dead (gave up), released (not attempted; shutdown or endpoint "
    "disabled)",
    ["kind", "outcome"],
)
EVENTS: Final = Counter(
    "tenure_events_total",
    "Committed events by type, counted once when the outbox numbers them",
    ["type"],
)
DUNNING: Final = Counter(
    "tenure_dunning_transitions_total",
    "Subscriptions entering dunning (entered), put on hold (on_hold) and recovered (recovered)",
    ["transition"],
)
_DUNNING_EVENTS: Final = {
    "subscription.past_due": "entered",
    "subscription.on_hold": "on_hold",
    "subscription.recovered": "recovered",
}


def count_events(types: list[str]) -> None:
    """Called once per event when it is numbered (exactly once per committed event)."""
    for kind in types:
        EVENTS.labels(kind).inc()
        transition = _DUNNING_EVENTS.get(kind)
        if transition is not None:
            DUNNING.labels(transition).inc()


def count_charge(reason: str, outcome: str, retryable: bool | None) -> None:
    """A recorded charge outcome (renewals are reasons subscription_cycle and trial_end)."""
    decline = "none" if outcome == "succeeded" else ("soft" if retryable else "hard")
    CHARGES.labels(reason, outcome, decline).inc()


# --- updates off the hot path -------------------------------------------------------------------
# On the hottest paths (every HTTP request, every entitlement read) an update is a Python integer
# addition; ``flush`` applies what accumulated to the Prometheus children (in multiprocess mode a
# locked write to a memory-mapped file per value). ``flush`` runs before every scrape of this
# process, every ``FLUSH_INTERVAL`` seconds from the API's lifespan (``flush_forever``), and at
# shutdown: another worker's scrape sees this worker's counts at most that late.
FLUSH_INTERVAL: Final = 1.0
_pending: list[Tally | Timings] = []


class Tally:
    """A counter child's increments, added up in process until the next ``flush``."""

    __slots__ = ("child", "count")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.count = 0
        _pending.append(self)

    def inc(self, amount: int = 1) -> None:
        self.count += amount

    def flush(self) -> None:
        count, self.count = self.count, 0
        if count:
            self.child.inc(count)


class Timings:
    """A histogram child's observations, bucketed in process until the next ``flush``.

    The same buckets as the child (``le`` upper bounds, ``+Inf`` last): a flush adds each
    bucket's count and the sum to the child's values, which is what the same observations
    made one at a time would have added (tests/unit/test_metrics_batched.py).
    """

    __slots__ = ("child", "counts", "total", "upper")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.upper: list[float] = list(child._upper_bounds)
        self.counts = [0] * len(self.upper)
        self.total = 0.0
        _pending.append(self)

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.upper, amount)] += 1
        self.total += amount

    def flush(self) -> None:
        counts, self.counts = self.counts, [0] * len(self.upper)
        total, self.total = self.total, 0.0
        if not any(counts):
            return
        self.child._sum.inc(total)
        for bucket, count in zip(self.child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


def flush() -> None:
    """Apply every batched update of this process to its metrics."""
    for pending in list(_pending):
        pending.flush()


async def flush_forever(interval: float = FLUSH_INTERVAL) -> None:
    """``flush`` every ``interval`` seconds until cancelled (then once more)."""
    try:
        while True:
            await asyncio.sleep(interval)
            flush()
    finally:
        flush()


def multiprocess_dir() -> str | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


_extra: list[Collector] = []


def register(collector: Collector) -> None:
    """A collector added to every scrape (business gauges, build info)."""
    _extra.append(collector)
    if multiprocess_dir() is None:
        REGISTRY.register(collector)


def scrape_registry() -> CollectorRegistry:
    """The registry a scrape reads: this process alone, or all processes sharing the dir."""
    if multiprocess_dir() is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    for collector in _extra:
        registry.register(collector)
    return registry


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """The scrape body and its exact ``Content-Type`` (OpenMetrics when the scraper asks)."""
    flush()
    encoder, content_type = choose_encoder(accept or "")
    return encoder(scrape_registry()), content_type
