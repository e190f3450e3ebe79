"""The OpenTelemetry SDK side of tracing, imported only when tracing is on: the provider, the
sampler that keeps orphan client spans out, and the processor that drops idle polling passes."""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider, sampling
from opentelemetry.trace import SpanKind

from tenure.observability.tracing import IDLE, POLL


def build_provider(processor: SpanProcessor, *, process: str) -> TracerProvider:
    from tenure import __version__

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or "tenure",
            "service.version": __version__,
            "tenure.process": process,
        }
    )
    configured = getattr(sampling, "_get_from_env_or_default", None)
    inner = configured() if configured is not None else sampling.ParentBased(sampling.ALWAYS_ON)
    created = TracerProvider(resource=resource, sampler=NoOrphanClients(inner))
    created.add_span_processor(QuietPolls(processor))
    return created


class NoOrphanClients(sampling.Sampler):
    """A client span (SQL, HTTP) with no parent starts no trace: it is background noise."""

    def __init__(self, inner: sampling.Sampler) -> None:
        self._inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> sampling.SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return sampling.SamplingResult(sampling.Decision.DROP)
        return self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoOrphanClients({self._inner.get_description()})"


class QuietPolls(SpanProcessor):
    """Holds the spans of a polling pass until its root ends; drops the pass if it was idle."""

    def __init__(self, inner: SpanProcessor, *, max_held: int = 10_000) -> None:
        self._inner = inner
        self._polls: dict[int, list[ReadableSpan]] = {}
        self._held = 0
        self._max_held = max_held
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.parent is None and (span.attributes or {}).get(POLL):
            with self._lock:
                self._polls[span.context.trace_id] = []
        self._inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        trace_id = span.context.trace_id if span.context is not None else 0
        with self._lock:
            held = self._polls.get(trace_id)
            if held is not None and span.parent is not None and self._held < self._max_held:
                held.append(span)
                self._held += 1
                return
            if held is not None and span.parent is None:
                del self._polls[trace_id]
                self._held -= len(held)
                if (span.attributes or {}).get(IDLE):
                    return
                release = [*held, span]
            else:
                release = [span]
        for item in release:
            self._inner.on_end(item)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
