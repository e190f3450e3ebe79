"""Metric updates batched in process (Tally, Timings) add up to what direct updates add."""

from __future__ import annotations

import asyncio
import io

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from tenure.observability import logs, metrics
from tenure.observability.metrics import Tally, Timings, flush


def _samples(registry: CollectorRegistry, name: str) -> str:
    text = generate_latest(registry).decode()
    lines = [line for line in text.splitlines() if line.startswith(name) and "_created" not in line]
    return "\n".join(sorted(line.replace('kind="batched"', 'kind="x"') for line in lines))


def test_batched_updates_equal_direct_ones_after_a_flush() -> None:
    direct, batched = CollectorRegistry(), CollectorRegistry()
    observations = [0.0001, 0.0005, 0.0007, 0.003, 0.05, 0.05, 2.0, 11.0, 0.0005]
    results = []
    for registry, kind in ((direct, "direct"), (batched, "batched")):
        counter = Counter("t_requests", "x", ["kind"], registry=registry)
        buckets = (0.0005, 0.001, 0.05, 1)
        histogram = Histogram("t_seconds", "x", ["kind"], buckets=buckets, registry=registry)
        if kind == "direct":
            for value in observations:
                counter.labels("x").inc()
                histogram.labels("x").observe(value)
        else:
            tally, timings = Tally(counter.labels("x")), Timings(histogram.labels("x"))
            for value in observations:
                tally.inc()
                timings.observe(value)
            assert 't_requests_total{kind="x"} 0.0' in generate_latest(registry).decode()
            flush()
            flush()  # nothing pending: adds nothing
        results.append((_samples(registry, "t_requests"), _samples(registry, "t_seconds")))
    assert results[0] == results[1]


def test_a_scrape_flushes_first() -> None:
    before = metrics.ENTITLEMENT_CACHE.labels("hit")._value.get()
    tally = Tally(metrics.ENTITLEMENT_CACHE.labels("hit"))
    tally.inc(3)
    assert metrics.ENTITLEMENT_CACHE.labels("hit")._value.get() == before
    metrics.exposition()
    assert metrics.ENTITLEMENT_CACHE.labels("hit")._value.get() == before + 3


class _Sink(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_access_lines_of_one_loop_turn_are_written_together() -> None:
    saved = list(logs._output.sinks), dict(logs._state)
    sink = _Sink()
    logs.configure(fmt="json", level="info", stream=io.StringIO(), force=True)
    logs._output.extra.append(sink)
    try:
        for n in range(3):
            logs.access(method="GET", route="/r", path=f"/r/{n}", status=200, duration_ms=1)
        assert sink.getvalue() == ""  # held until the end of this turn
        await asyncio.sleep(0)
        lines = sink.getvalue().splitlines()
        assert len(lines) == 3 and sink.writes == 1
        assert [line.count('"event":"http.request"') for line in lines] == [1, 1, 1]
        logs.access(method="GET", route="/r", path="/r/x", status=200, duration_ms=1)
        logs.release()  # idle: written at once
        assert len(sink.getvalue().splitlines()) == 4
    finally:
        logs._output.extra.remove(sink)
        sinks, state = saved
        stream = sinks[0] if sinks else None
        logs.configure(fmt=state.get("fmt"), level=state.get("level"), stream=stream, force=True)
        logs._output.sinks = sinks
