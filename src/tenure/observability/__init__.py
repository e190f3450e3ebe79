"""Logs, metrics and traces shared by every Tenure process.

``from tenure.observability import HTTP_REQUESTS`` keeps working: the metric objects live in
:mod:`tenure.observability.metrics` and are re-exported here.
"""

from tenure.observability.metrics import (
    CHARGES,
    DUNNING,
    ENTITLEMENT_CACHE,
    EVENTS,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    PAYMENTS,
    PROVIDER_LATENCY,
    WEBHOOK_DELIVERIES,
    WEBHOOK_LATENCY,
    WORKER_FAILURES,
    WORKER_ITEMS,
    WORKER_STEP_SECONDS,
    exposition,
)

__all__ = [
    "CHARGES",
    "DUNNING",
    "ENTITLEMENT_CACHE",
    "EVENTS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "PAYMENTS",
    "PROVIDER_LATENCY",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_LATENCY",
    "WORKER_FAILURES",
    "WORKER_ITEMS",
    "WORKER_STEP_SECONDS",
    "exposition",
]
