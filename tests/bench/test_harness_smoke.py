"""A quick run of the benchmark harness's pieces at tiny sizes (the real run is `make bench`).

Each piece runs for real: the renewal phase seeds, drains through worker processes and checks
its own results; the load generator drives a real Granian server on loopback; the HTTP phase
drives `tenure serve` on SQLite. Parsers and the report are checked on known inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.config import Config
from bench.loadgen import LoadResult, Request, Spec
from bench.machine import Facts, python_path
from bench.servers import HOST, free_port, rawapp_command, serving

from bench import loadgen, pgbench, profiling, renewal, report, web, wrk


@pytest.mark.parametrize(("provider", "workers"), [("null", 2), ("sandbox", 1)])
async def test_renewal_phase_renews_each_subscription_exactly_once(
    database_url: str, provider: renewal.ProviderName, workers: int
) -> None:
    result = await renewal.run(database_url, provider, 50, workers=workers, budget=60)

    assert not result.stopped_at_budget
    assert result.verification.complete, result.verification.describe()
    assert result.verification.paid_invoices == result.verification.invoices == 50
    assert result.rate > 0


async def test_load_generator_against_a_local_server(tmp_path: Path) -> None:
    port = free_port()
    body = web.synthetic_entitlement_body()
    paths = [f"/v1/entitlements/user-{n}" for n in range(20)]
    requests = [Request("GET", path) for path in paths]
    env = {"BENCH_RAW_BODY": body.decode(), "PYTHONPATH": python_path()}
    async with serving(rawapp_command(port), port=port, env=env, log=tmp_path / "raw.log"):
        closed = await loadgen.run(Spec(HOST, port, "closed", requests, 4, 1.0))
        fixed = await loadgen.run(Spec(HOST, port, "rate", requests, 4, 1.0, rate=200))

    assert closed.errors == 0 and closed.requests > 50 and closed.rps > 50
    assert 0 < closed.p50_ms <= closed.p99_ms <= closed.max_ms
    assert fixed.errors == 0 and fixed.statuses == {"200": 200}
    assert fixed.offered_rps == 200 and 150 < fixed.rps <= 210


async def test_http_phase_on_sqlite(tmp_path: Path) -> None:
    config = Config(
        admin_url="unused",
        workdir=tmp_path,
        server_cpu=None,
        generator_cpu=None,
        use_wrk=False,
        customers=4,
        hot_set=2,
        max_read_population=6,
        connections=2,
        checkout_connections=2,
        warmup_seconds=0,
        closed_seconds=0.5,
        rate_seconds=0.5,
        read_endpoints=("/v1/entitlements/{external_id}",),
    )
    result = await web.run_backend(
        config, "sqlite", f"sqlite:///{tmp_path / 'smoke.db'}", profile=False
    )

    assert result.checkout.statuses == {"201": 4} and result.subscribed == 4
    assert b'"product":"premium_individual"' in result.sample_body
    assert [(r.population, r.users) for r in result.reads] == [("hot", 2), ("rotating", 6)]
    for read in result.reads:
        assert read.closed.errors == 0 and read.closed.rps > 0
        assert read.fixed.errors == 0 and read.fixed.requests > 0


WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:8000
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.10ms    1.02ms  31.20ms   91.00%
    Req/Sec     7.80k   400.00     8.10k    80.00%
  Latency Distribution
     50%    3.90ms
     75%    4.30ms
     90%    4.90ms
     99%    8.20ms
  62000 requests in 8.00s, 30.00MB read
  Non-2xx or 3xx responses: 100
Requests/sec:   7750.00
Transfer/sec:      3.75MB
"""


def test_wrk_output_is_parsed() -> None:
    result = wrk.parse(WRK_OUTPUT, 8.0)

    assert result.requests == 62000 and result.errors == 100
    assert result.p50_ms == 3.9 and result.p99_ms == 8.2 and result.max_ms == 31.2
    assert result.rps == pytest.approx(7750 * 61900 / 62000)
    assert '"/a",\n  "/b"' in wrk.lua_script(["/a", "/b"], {"Authorization": "Bearer k"})


def test_pgbench_output_is_parsed() -> None:
    output = "latency average = 1.152 ms\ntps = 1735.4 (without initial connection time)\n"

    assert pgbench.parse_tps(output) == (1735.4, 1.152)


def test_py_spy_stacks_are_summarized() -> None:
    collapsed = "\n".join(
        [
            'process 1:"tenure serve";run (a/site-packages/tenure/flows/due.py:52);'
            "execute (sqlalchemy/engine/base.py:10) 30",
            'process 1:"tenure serve";run (a/site-packages/tenure/flows/due.py:52) 10',
            'process 1:"tenure serve" 60',
        ]
    )
    profile = profiling.summarize_collapsed("x", collapsed)

    assert profile.samples == 40
    assert profile.functions[0].name == "tenure/flows/due.py run"
    assert profile.functions[0].share == 1.0
    assert [(c.name, c.share) for c in profile.layers] == [("sqlalchemy", 0.75), ("tenure", 0.25)]


def test_report_keeps_notes_around_the_generated_block(tmp_path: Path) -> None:
    facts = Facts("abc", False, "today", 2, "cpu", 24.0, "3.11", "", "PostgreSQL", "", (0, 0, 0))
    results = report.Results("make bench", facts, "wrk")
    results.pgbench = [pgbench.PgbenchResult(8, 2, 15, 10, 2000.0, 4.0, "pgbench ...")]
    checkout = LoadResult("once", 100, 0, 1.0, 100.0, 50.0, 90.0, 95.0, 99.0)
    results.backends = [web.BackendResult("sqlite", checkout, 100)]
    path = tmp_path / "performance.md"
    path.write_text(f"intro\n{report.BEGIN}\nold\n{report.END}\nnotes\n")

    report.write(path, report.render(results, checkout_connections=8))

    text = path.read_text()
    assert text.startswith("intro\n") and text.endswith("\nnotes\n") and "old" not in text
    assert "| 5.0% of T | ≥ 60% of T | **not met** (5.0% of T) |" in text
