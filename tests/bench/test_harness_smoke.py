"""A quick run of the benchmark harness's pieces at tiny sizes (the real run is `make bench`).

Each piece runs for real: the renewal phase seeds, drains through worker processes and checks
its own results; the load generator drives a real Granian server on loopback; the HTTP phase
drives `tenure serve` on SQLite. Parsers and the report are checked on known inputs.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest
from bench.config import Config
from bench.loadgen import LoadResult, Request, Spec
from bench.machine import Facts, python_path
from bench.renewal import RenewalResult, Verification
from bench.servers import HOST, free_port, rawapp_command, serving, stop_group

from bench import (
    loadgen,
    memory,
    openloop,
    outbox,
    pgbench,
    profiling,
    renewal,
    report,
    web,
    wrk,
)


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


async def test_open_loop_client_holds_a_small_rate(tmp_path: Path) -> None:
    binary = openloop.build(tmp_path)
    if binary is None:
        pytest.skip("no C compiler: the harness falls back to bench/loadgen.py")
    port = free_port()
    env = {"BENCH_RAW_BODY": web.synthetic_entitlement_body().decode(), "PYTHONPATH": python_path()}
    requests = [Request("GET", f"/v1/entitlements/user-{n}") for n in range(20)]
    async with serving(rawapp_command(port), port=port, env=env, log=tmp_path / "raw.log"):
        fixed = await openloop.run(
            binary,
            port,
            requests,
            rate=200,
            connections=4,
            duration=1.0,
            cpu=None,
            workdir=tmp_path,
        )

    assert fixed.statuses == {"200": 200} and fixed.scheduled == 200 and fixed.errors == 0
    assert fixed.offered_rps == 200 and 0.9 < fixed.held <= 1.05
    assert 0 < fixed.p50_ms <= fixed.p99_ms <= fixed.max_ms
    assert fixed.generator == openloop.NAME


async def test_webhook_sink_notes_each_event_id(tmp_path: Path) -> None:
    port, notes = free_port(), tmp_path / "arrivals.tsv"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sink",
        str(port),
        str(notes),
        env={"PYTHONPATH": python_path()},
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), timeout=30) == b"ready\n"
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}") as client:
            for event_id in ("evt_A1", "evt_B2"):
                answer = await client.post("/hook", content=b"{}", headers={"webhook-id": event_id})
                assert answer.status_code == 200
    finally:
        await stop_group(process)

    lines = [line.split("\t") for line in notes.read_text().splitlines()]
    assert [event_id for event_id, _ in lines] == ["evt_A1", "evt_B2"]
    assert all(float(at) > 1.7e9 for _, at in lines)


async def test_outbox_run_delivers_every_event_once(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the outbox run is measured on PostgreSQL")

    result = await outbox.run(database_url, 20, workers=1, budget=120, workdir=tmp_path)

    assert result.renewal.verification.complete, result.renewal.verification.describe()
    assert result.complete and result.duplicates == 0
    assert result.events == result.delivered >= 3 * 20  # invoice, payment, renewal at least
    assert result.delivered_rate > 0 and 0 < result.lag_p50_s <= result.lag_p99_s


async def test_memory_run_on_sqlite(tmp_path: Path) -> None:
    config = Config(
        admin_url="unused",
        workdir=tmp_path,
        server_cpu=None,
        generator_cpu=None,
        use_wrk=False,
        connections=2,
        checkout_connections=2,
        closed_seconds=0.5,
    )
    result = await memory.run(config, f"sqlite:///{tmp_path / 'memory.db'}", 1200)

    assert result.errors == 0 and result.complete and result.customers == 1200
    assert len(result.curve_mb) == memory.SLICES and result.processes >= 1
    assert result.before_mb > 0 and result.peak_mb >= result.after_mb
    assert result.single_reads > 0


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
    sqlite_checkout = LoadResult("once", 100, 0, 1.0, 40.0, 50.0, 90.0, 95.0, 99.0)
    results.backends = [
        web.BackendResult("postgres", checkout, 100),
        web.BackendResult("sqlite", sqlite_checkout, 100),
    ]
    path = tmp_path / "performance.md"
    path.write_text(f"intro\n{report.BEGIN}\nold\n{report.END}\nnotes\n")

    report.write(path, report.render(results, checkout_connections=8))

    text = path.read_text()
    assert text.startswith("intro\n") and text.endswith("\nnotes\n") and "old" not in text
    assert "| 5.0% of T8 | ≥ 25% of T8 (floor ≥ 10% of T8) | **not met** |" in text
    assert (
        "| 40% of PostgreSQL (2.0% of T8) | ≥ 50% of the PostgreSQL figure (floor ≥ 25%) " in text
    )
    assert "| floor met (goal missed) |" in text


def test_full_run_sizes(tmp_path: Path) -> None:
    from bench.__main__ import make_config, parse_args

    full = make_config(parse_args(["--full", "--phases", "renewal,memory"]), tmp_path)
    default = make_config(parse_args(["--outbox-renewals", "0"]), tmp_path)

    assert (full.renewal_total, full.memory_total, full.outbox_total) == (1_000_000,) * 2 + (
        20_000,
    )
    assert full.drain_budget >= 2400 and full.phases == ("renewal", "memory")
    assert (default.renewal_total, default.memory_total, default.outbox_total) == (100_000,) * 2 + (
        0,
    )
    assert default.drain_budget == 240 and "memory" in default.phases


def test_goal_verdicts() -> None:
    assert report.READ_HIT.verdict(0.9) == report.MET
    assert report.READ_HIT.verdict(0.75) == report.FLOOR_MET
    assert report.READ_HIT.verdict(0.5) == report.NOT_MET
    assert report.READ_HIT.verdict(0.9, valid=False) == report.NOT_MET
    assert report.READ_P99.verdict(1.5) == report.MET  # at most 2x H's p99
    assert report.READ_P99.verdict(3.0) == report.FLOOR_MET
    assert report.READ_P99.verdict(4.5) == report.NOT_MET
    assert report.MEMORY.verdict(150) == report.MET and report.MEMORY.verdict(600) == report.NOT_MET
    assert report.READ_MISS.verdict(None) is None


X = report.TIMES


def _renewal(rate: float, count: int) -> RenewalResult:
    verification = Verification(count, count, count, count, count, count, count, count)
    return RenewalResult("null", count, 2, count / rate, 1.0, verification, False)


def _raw(p99: float, held: float) -> web.RawResult:
    closed = LoadResult("closed", 60000, 0, 6.0, 10000.0, 1.0, 5.0, 0.0, 9.0)
    fixed = LoadResult("rate", 48000, 0, 6.0, 8000.0 * held, 1.0, p99, 0.0, 9.0, offered_rps=8000.0)
    return web.RawResult(300, closed, fixed)


def test_report_rows_for_the_tail_outbox_memory_and_full_renewals() -> None:
    facts = Facts("abc", False, "today", 2, "cpu", 24.0, "3.11", "", "PostgreSQL", "", (0, 0, 0))
    results = report.Results("make bench", facts, "wrk")
    results.pgbench = [pgbench.PgbenchResult(2, 2, 15, 10, 1000.0, 2.0, "pgbench ...")]
    results.raw = _raw(p99=4.0, held=1.0)
    hit = LoadResult("closed", 50000, 0, 6.0, 9000.0, 1.0, 5.0, 0.0, 9.0)
    at_h = LoadResult("rate", 48000, 0, 6.0, 8000.0, 1.0, 10.0, 0.0, 30.0, offered_rps=8000.0)
    read = web.ReadResult("/v1/entitlements/{external_id}", "hot", 10, hit, at_h, 30.0, True)
    checkout = LoadResult("once", 100, 0, 1.0, 100.0, 50.0, 90.0, 95.0, 99.0)
    results.backends = [web.BackendResult("postgres", checkout, 100, reads=[read])]
    results.renewals = [_renewal(9000.0, 1_000_000)]  # 9x T2, but 111 s for 1,000,000: met
    results.outbox = outbox.OutboxResult(
        _renewal(1000.0, 5000), 20000, 20000, 0, 10.0, 0.2, 0.8, 1.0, False
    )
    results.memory = memory.MemoryResult(
        "postgres", 100_000, 300.0, 450.0, 450.0, [310.0] * 10, 100, 0, 2, 5.0
    )

    text = report.render(results, checkout_connections=8)

    assert "| 90.0% of H | ≥ 85% of H (floor ≥ 70% of H) | met |" in text
    assert f"| 2.5{X} H's p99 | ≤ 2{X} H's p99 at the same rate (floor ≤ 4{X}) | floor met" in text
    assert f"| 9.00{X} T2 |" in text and "1,000,000 in 111 s" in text
    assert f"| 2.00{X} the renewal rate; lag p99 0.80 s |" in text
    assert "| +150 MB |" in text and "met at 100,000 (the goal is for 1,000,000: `--full`)" in text
    assert "Client check" in text and "held: 100.0%" in text

    results.raw = _raw(p99=4.0, held=0.9)  # the client could not hold H's rate

    text = report.render(results, checkout_connections=8)

    assert "**NOT held**" in text and "no trustworthy baseline" in text


def test_checkout_keys_never_look_like_card_numbers() -> None:
    from bench.checkout import idempotency_key

    from tenure.api.limits import has_card_number

    keys = {idempotency_key() for _ in range(5000)}
    assert len(keys) == 5000
    assert not [key for key in keys if has_card_number(key)]
