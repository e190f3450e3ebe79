"""Prometheus metrics shared by the API and the worker (served at ``GET /metrics``).

Labels stay low-cardinality: routes by template (``/v1/subscriptions/{subscription_id}``),
never by id.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

HTTP_REQUESTS: Final = Counter(
    "tenure_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY: Final = Histogram(
    "tenure_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WORKER_ITEMS: Final = Counter(
    "tenure_worker_items_total", "Items the worker handled, by step", ["step"]
)
WORKER_FAILURES: Final = Counter(
    "tenure_worker_step_failures_total", "Worker steps that raised, by step", ["step"]
)
PAYMENTS: Final = Counter(
    "tenure_payment_outcomes_total", "Payment attempts by outcome", ["outcome"]
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
