"""One checkout produces the expected span tree, collected in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tenure.api.app import create_app
from tenure.observability import tracing
from tenure.observability.otel import build_provider
from tenure.settings import Settings
from tests.support.api import API_KEY, Api


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(build_provider(SimpleSpanProcessor(exporter), process="test"))
    try:
        yield exporter
    finally:
        tracing.install(None)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _descendants(spans: list[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    found, frontier = [], [root]
    while frontier:
        current = frontier.pop()
        for child in _children(spans, current):
            found.append(child)
            frontier.append(child)
    return found


async def test_a_checkout_is_one_trace_with_sql_and_provider_spans(
    database_url: str, spans: InMemorySpanExporter
) -> None:
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        api = Api(client)
        customer = await api.customer()
        spans.clear()
        response = await api.post(
            "/v1/subscriptions",
            {
                "customer": customer,
                "plan": "premium_individual_monthly",
                "payment_method": "pm_card_visa",
            },
        )
        assert response.status_code == 201
        recorded = list(spans.get_finished_spans())

    [root] = [s for s in recorded if s.name == "POST /v1/subscriptions" and s.parent is None]
    assert root.kind is SpanKind.SERVER
    assert root.attributes is not None and root.attributes["http.route"] == "/v1/subscriptions"
    below = _descendants(recorded, root)
    trace_ids = {s.context.trace_id for s in below}
    assert trace_ids == {root.context.trace_id}

    sql = [s for s in below if s.kind is SpanKind.CLIENT and "db.system" in (s.attributes or {})]
    assert len(sql) >= 5  # the customer lookup, the inserts, the attempt, the outcome...
    [charge] = [s for s in below if s.name == "provider.charge"]
    assert charge.kind is SpanKind.CLIENT
    assert charge.attributes is not None
    assert charge.attributes["tenure.provider"] == "sandbox"
    assert charge.attributes["tenure.provider.outcome"] == "succeeded"
    # The sandbox provider writes its own ledger: its SQL is inside the provider span.
    assert any(s for s in _descendants(recorded, charge) if s.kind is SpanKind.CLIENT)
    # Nothing about the card or the key is on any span.
    for span in recorded:
        values = " ".join(str(v) for v in (span.attributes or {}).values())
        assert "pm_card_visa" not in values and API_KEY not in values


async def test_events_keep_the_trace_and_webhooks_carry_it(
    database_url: str, spans: InMemorySpanExporter
) -> None:
    from sqlalchemy import select

    from tenure.db.engine import Database
    from tenure.events.models import OutboxEvent

    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await Api(client).post(
            "/v1/customers",
            {"external_id": "traced-1", "email": "t@example.com", "market": "SE"},
        )
        assert response.status_code == 201
    [root] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/customers"]
    database = Database(database_url)
    try:
        async with database.read() as session:
            [parent] = (
                await session.scalars(
                    select(OutboxEvent.traceparent).where(OutboxEvent.type == "customer.created")
                )
            ).all()
    finally:
        await database.dispose()
    assert parent is not None
    assert parent.split("-")[1] == format(root.context.trace_id, "032x")
    headers: dict[str, str] = {}
    tracing.inject(headers, parent)
    assert headers["traceparent"] == parent


async def test_idle_polls_leave_no_trace(spans: InMemorySpanExporter) -> None:
    with tracing.poll("worker.due_work") as idle:
        with tracing.span("select", kind=SpanKind.CLIENT):
            pass
        tracing.mark(idle, 0)
    with tracing.poll("worker.due_work") as busy:
        with tracing.span("select", kind=SpanKind.CLIENT):
            pass
        tracing.mark(busy, 3)
    with tracing.span("orphan sql", kind=SpanKind.CLIENT):
        pass
    names = [s.name for s in spans.get_finished_spans()]
    assert names == ["select", "worker.due_work"]
