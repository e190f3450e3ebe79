"""OpenTelemetry traces: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-only
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; then exported over OTLP/HTTP in batches.

Spans: one per HTTP request (the ASGI instrumentation, named by route template), per SQL
statement (the SQLAlchemy instrumentation), per worker step and relay batch, per payment
provider call, per webhook delivery and NATS publish. Outgoing webhooks and NATS messages carry
the W3C ``traceparent`` of the request that recorded the event (stored with the event), so a
consumer's work joins the trace of the checkout that caused it.

The standard ``OTEL_*`` variables apply (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_HEADERS``...). Two filters keep idle processes quiet: a SQL statement run
outside any span (a scrape's gauges, start-up) starts no trace, and a worker or relay pass that
found nothing to do is dropped whole.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tenure.observability.redact import Scrubber

if TYPE_CHECKING:  # the SDK loads only when tracing is on (observability/otel.py)
    from opentelemetry.sdk.trace import TracerProvider

POLL: Final = "tenure.poll"
IDLE: Final = "tenure.idle"
_propagator: Final = TraceContextTextMapPropagator()
_state: dict[str, Any] = {"provider": None}
_noop: Final = trace.NoOpTracerProvider().get_tracer("tenure")
_scrubber: Final = Scrubber()


def enabled() -> bool:
    return _state["provider"] is not None


def provider() -> TracerProvider | None:
    found: TracerProvider | None = _state["provider"]
    return found


def tracer() -> Tracer:
    current = provider()
    return current.get_tracer("tenure") if current is not None else _noop


def install(new: TracerProvider | None) -> None:
    """Use ``new`` for every span this process makes (``None``: tracing off). Tests install a
    provider with an in-memory exporter; ``setup_from_env`` installs the OTLP one."""
    _state["provider"] = new


def setup_from_env(process: str) -> bool:
    """Tracing on when an OTLP endpoint is configured; returns whether it is on."""
    if enabled():
        return True
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tenure.observability.otel import build_provider

    install(build_provider(BatchSpanProcessor(OTLPSpanExporter()), process=process))
    return True


def shutdown() -> None:
    current = provider()
    if current is not None:
        current.shutdown()


# --- spans ------------------------------------------------------------------------------------


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: list[trace.Link] | None = None,
    context: Context | None = None,
) -> Iterator[trace.Span]:
    """A span when tracing is on; a no-op (one branch) when it is off."""
    current = provider()
    if current is None:
        yield trace.INVALID_SPAN
        return
    with current.get_tracer("tenure").start_as_current_span(
        name, kind=kind, attributes=dict(attributes or {}), links=links, context=context
    ) as started:
        yield started


@contextlib.contextmanager
def poll(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """The root span of one pass of a polling loop; mark it idle (``idle(span)``) to drop it."""
    with span(name, attributes={POLL: True, **attributes}, context=Context()) as started:
        yield started


def mark(started: trace.Span, handled: int) -> None:
    if started.is_recording():
        started.set_attribute("tenure.handled", handled)
        started.set_attribute(IDLE, handled == 0)


def failed(started: trace.Span, error: BaseException) -> None:
    """Mark a span failed with the exception's type and scrubbed message (no stack of values)."""
    if started.is_recording():
        started.add_event(
            "exception",
            {
                "exception.type": type(error).__name__,
                "exception.message": _scrubber.text(str(error)[:500]),
            },
        )
        started.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))


def traceparent() -> str | None:
    """The current span's W3C ``traceparent``, to store with what this request records."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def inject(headers: MutableMapping[str, str], origin: str | None = None) -> None:
    """Add trace headers to an outgoing message: the recording request's context when known
    (``origin``), else the current span's."""
    if not enabled():
        return
    if origin:
        headers["traceparent"] = origin
    else:
        _propagator.inject(headers)


def link_to(origin: str | None) -> list[trace.Link]:
    if not origin:
        return []
    remote = trace.get_current_span(_propagator.extract({"traceparent": origin}))
    context = remote.get_span_context()
    return [trace.Link(context)] if context.is_valid else []


def instrument_engine(engine: Any) -> None:
    """SQL statement spans for this engine (sync engine of an AsyncEngine), when tracing is on."""
    current = provider()
    if current is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    usage = NoOpMeterProvider().get_meter("tenure").create_up_down_counter("db.connections")
    tracer = current.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]


def asgi(app: Any) -> Any:
    """Wrap an ASGI app in a server span per request, when tracing is on."""
    current = provider()
    if current is None:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app,
        tracer_provider=current,
        exclude_spans=["receive", "send"],
        # Named by method until routing names it by template (never by a path with ids).
        default_span_details=lambda scope: (str(scope.get("method", "HTTP")), {}),
    )


def name_request(method: str, route: str) -> None:
    """Name the current request span by route template, once routing has found it."""
    current = trace.get_current_span()
    if current.is_recording():
        current.update_name(f"{method} {route}")
        current.set_attribute("http.route", route)


__all__ = ["NonRecordingSpan", "SpanKind"]
