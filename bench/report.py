"""The table in docs/performance.md: each result next to its baseline, goals checked.

The harness rewrites only the part between the ``bench:begin`` / ``bench:end`` markers, so
notes written around it (the reading of the profiles) survive a re-run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import LoadResult
from bench.machine import Facts
from bench.memory import MemoryResult
from bench.outbox import OutboxResult
from bench.pgbench import PgbenchResult
from bench.profiling import Cost, Profile
from bench.renewal import RenewalResult
from bench.web import CLIENT_BUSY, BackendResult, RawResult, ReadResult

BEGIN = "<!-- bench:begin (written by `make bench`; edit bench/report.py, not this block) -->"
END = "<!-- bench:end -->"

NONE = "\u2013"  # an en dash: no value
TIMES = "\u00d7"


@dataclass(frozen=True, slots=True)
class Goal:
    """One line of issue 17's goal table: the goal and the floor, both as ``(value ok?)``."""

    text: str
    floor: str
    at_least: bool  # True: the measured value must be >= the bound; False: <=
    goal_bound: float
    floor_bound: float

    def verdict(self, value: float | None, *, valid: bool = True) -> str | None:
        if value is None:
            return None
        if not valid:
            return NOT_MET
        if self.reaches(value, self.goal_bound):
            return MET
        return FLOOR_MET if self.reaches(value, self.floor_bound) else NOT_MET

    def reaches(self, value: float, bound: float) -> bool:
        return value >= bound if self.at_least else value <= bound


MET = "met"
FLOOR_MET = "floor met (goal missed)"
NOT_MET = "**not met**"

# Issue 17's table; every ratio is to a baseline measured in the same run.
CHECKOUT_PG = Goal("≥ 25% of T8", "≥ 10% of T8", True, 0.25, 0.10)
CHECKOUT_SQLITE = Goal("≥ 50% of the PostgreSQL figure", "≥ 25%", True, 0.50, 0.25)
RENEWAL_NULL = Goal(f"≥ 5{TIMES} T2; `--full` (1,000,000) in < 2 min", f"≥ 2{TIMES} T2", True, 5, 2)
RENEWAL_FULL_COUNT = 1_000_000
RENEWAL_FULL_SECONDS = 120.0
RENEWAL_SANDBOX = Goal(f"≥ 2{TIMES} T2", f"≥ 1{TIMES} T2", True, 2, 1)
READ_HIT = Goal("≥ 85% of H", "≥ 70% of H", True, 0.85, 0.70)
READ_P99 = Goal(f"≤ 2{TIMES} H's p99 at the same rate", f"≤ 4{TIMES}", False, 2.0, 4.0)
READ_MISS = Goal("≥ 25% of H", "≥ 10% of H", True, 0.25, 0.10)
OUTBOX = Goal(f"≥ 1.5{TIMES} the renewal rate; lag p99 < 1 s", f"≥ 1{TIMES}; < 5 s", True, 1.5, 1.0)
OUTBOX_LAG_GOAL_S = 1.0
OUTBOX_LAG_FLOOR_S = 5.0
MEMORY = Goal("RSS growth ≤ 200 MB", "≤ 500 MB", False, 200.0, 500.0)
MEMORY_FULL_COUNT = 1_000_000


@dataclass(slots=True)
class Results:
    command: str
    facts: Facts
    closed_loop_generator: str
    end_load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpu_busy_before: float = 0.0
    pgbench: list[PgbenchResult] = field(default_factory=list)
    raw: RawResult | None = None
    backends: list[BackendResult] = field(default_factory=list)
    renewals: list[RenewalResult] = field(default_factory=list)
    outbox: OutboxResult | None = None
    memory: MemoryResult | None = None
    flow_profiles: list[Profile] = field(default_factory=list)  # in-process: checkout, renewal
    phase_seconds: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def tpcb(self, clients: int) -> PgbenchResult | None:
        """T measured at ``clients`` (or the nearest client count measured)."""
        if not self.pgbench:
            return None
        return min(self.pgbench, key=lambda r: (abs(r.clients - clients), r.clients))


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    backend: str
    result: str
    baseline: str
    ratio: str
    goal: str  # "goal (floor: ...)", or why there is none
    verdict: str | None  # MET, FLOOR_MET, NOT_MET (+ why), or None: no goal for this row


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _goal(goal: Goal) -> str:
    return f"{goal.text} (floor {goal.floor})"


def _latency(fixed: LoadResult) -> str:
    text = f"p50 {_ms(fixed.p50_ms)} / p99 {_ms(fixed.p99_ms)} ms at {_n(fixed.offered_rps)}/s"
    if fixed.held < 0.95:
        text += f" (only {fixed.held:.0%} of it answered in time"
        text += f"; {fixed.unanswered:,} never answered)" if fixed.unanswered else ")"
    if fixed.errors - fixed.unanswered:
        text += f", {fixed.errors - fixed.unanswered:,} errors"
    return text


def _population(read: ReadResult) -> str:
    """Say honestly what a "hit" and a "miss" were in this run."""
    if read.population == "hot":
        text = f"cache hit: hot set of {read.users:,} users read over and over"
        return text + ("" if read.cache_ttl else " (this Tenure has no cache: each is a DB read)")
    text = f"cache miss: {read.users:,} users in rotation"
    if read.cache_ttl is None:
        return text + " (this Tenure has no cache)"
    text += (
        f", each read again after {read.revisit_seconds:.1f} s on average "
        f"(cache TTL {read.cache_ttl:g} s)"
    )
    if read.revisit_seconds < read.cache_ttl:
        text += ": sooner than the TTL, so partly hits"
    return text


def read_rows(results: Results) -> list[Row]:
    rows = []
    raw = results.raw
    h = f"H {_n(raw.closed.rps)} req/s" if raw else "H not measured"
    for backend in results.backends:
        for read in backend.reads:
            closed = read.closed
            hit = read.population == "hot"
            result = f"{_n(closed.rps)} req/s max"
            if closed.errors:
                result += f"; {closed.errors:,} errors at max"
            if not hit or not read.at_h_rate:
                result += f"; at 80% of its own max: {_latency(read.fixed)}"
            share = closed.rps / raw.closed.rps if raw and raw.closed.rps else None
            goal = READ_HIT if hit else READ_MISS
            rows.append(
                Row(
                    f"GET {read.endpoint}, {_population(read)}",
                    backend.backend,
                    result,
                    h,
                    f"{share:.1%} of H" if share is not None else NONE,
                    _goal(goal),
                    goal.verdict(share, valid=closed.errors == 0),
                )
            )
            if hit and read.at_h_rate and raw is not None:
                rows.append(p99_row(backend.backend, read, raw))
    return rows


def p99_row(backend: str, read: ReadResult, raw: RawResult) -> Row:
    """The tail at 80% of H's maximum, next to H's own p99 at the same rate."""
    fixed = read.fixed
    ratio = fixed.p99_ms / raw.fixed.p99_ms if raw.fixed.p99_ms > 0 else None
    verdict = READ_P99.verdict(ratio, valid=fixed.held >= 0.95 and fixed.errors == 0)
    if not raw.held:
        verdict = f"no trustworthy baseline ({_why_not_held(raw.fixed)})"
    return Row(
        f"GET {read.endpoint}, cache hit: p99 at 80% of H's max (open loop, "
        f"{fixed.scheduled or round(fixed.offered_rps * fixed.seconds):,} requests)",
        backend,
        _latency(fixed)
        + (f"; {fixed.held:.1%} of the rate answered" if fixed.held >= 0.95 else ""),
        f"H p99 {_ms(raw.fixed.p99_ms)} ms at {_n(raw.fixed.offered_rps)}/s",
        f"{ratio:.1f}{TIMES} H's p99" if ratio is not None else NONE,
        _goal(READ_P99),
        verdict,
    )


def checkout_rows(results: Results, connections: int) -> list[Row]:
    rows = []
    t = results.tpcb(8)
    postgres = next((b for b in results.backends if b.backend == "postgres"), None)
    for backend in results.backends:
        checkout = backend.checkout
        share = checkout.rps / t.tps if t else None
        result = (
            f"{_n(checkout.rps)} subscribes/s ({checkout.requests:,} {TIMES} POST, "
            f"{connections} connections; p50 {_ms(checkout.p50_ms)} / p99 {_ms(checkout.p99_ms)} ms"
            f"; {backend.subscribed:,} active afterwards"
        )
        result += f", {checkout.errors:,} errors)" if checkout.errors else ")"
        valid = checkout.errors == 0 and backend.subscribed >= checkout.requests
        t_text = f"{share:.1%} of T8" if share is not None else NONE
        if backend.backend == "postgres":
            baseline = f"T(c={t.clients}) {_n(t.tps)} tps" if t else "T8 not measured"
            ratio, goal, verdict = t_text, CHECKOUT_PG, CHECKOUT_PG.verdict(share, valid=valid)
        else:
            pg = postgres.checkout.rps if postgres and postgres.checkout.rps else None
            relative = checkout.rps / pg if pg else None
            baseline = f"PostgreSQL checkout {_n(pg)}/s" if pg else "PostgreSQL not measured"
            ratio = f"{relative:.0%} of PostgreSQL ({t_text})" if relative is not None else t_text
            goal, verdict = CHECKOUT_SQLITE, CHECKOUT_SQLITE.verdict(relative, valid=valid)
        rows.append(
            Row(
                "Checkout: POST /v1/subscriptions, new customer each, pm_card_visa",
                backend.backend,
                result,
                baseline,
                ratio,
                _goal(goal),
                verdict,
            )
        )
    return rows


def renewal_rows(results: Results) -> list[Row]:
    rows = []
    for run in results.renewals:
        t = results.tpcb(run.workers)
        factor = run.rate / t.tps if t else None
        done = run.verification.paid_invoices
        result = (
            f"{_n(run.rate)} renewals/s ({done:,} in {run.seconds:,.1f} s, {run.workers} workers"
        )
        result += f"; stopped at the {run.seconds:.0f} s budget)" if run.stopped_at_budget else ")"
        valid = run.verification.complete and not run.stopped_at_budget
        if run.provider == "sandbox":
            provider, goal = "sandbox provider", RENEWAL_SANDBOX
            verdict = goal.verdict(factor, valid=valid)
        else:
            provider, goal = "null provider (no I/O)", RENEWAL_NULL
            verdict = goal.verdict(factor, valid=valid)
            if run.count >= RENEWAL_FULL_COUNT:
                in_time = run.seconds < RENEWAL_FULL_SECONDS and valid
                result += f"; {RENEWAL_FULL_COUNT:,} in {run.seconds:.0f} s"
                if verdict == MET and not in_time:
                    verdict = FLOOR_MET
            elif run.rate > 0:
                projected = RENEWAL_FULL_COUNT / run.rate
                result += (
                    f"; 1,000,000 at this rate would take {projected:.0f} s "
                    "(projection; `--full` measures it)"
                )
        rows.append(
            Row(
                f"Renewal run: {run.count:,} due at once, {provider}",
                "postgres",
                result,
                f"T(c={t.clients}) {_n(t.tps)} tps" if t else "T not measured",
                f"{factor:.2f}{TIMES} T2" if factor is not None else NONE,
                _goal(goal),
                verdict,
            )
        )
    return rows


def outbox_rows(results: Results) -> list[Row]:
    run = results.outbox
    if run is None:
        return []
    factor = run.delivered_rate / run.renewal.rate if run.renewal.rate else None
    lag = run.lag_p99_s
    valid = run.complete and run.renewal.verification.complete
    verdict = OUTBOX.verdict(factor, valid=valid)
    if verdict == MET and not lag < OUTBOX_LAG_GOAL_S:
        verdict = FLOOR_MET if lag < OUTBOX_LAG_FLOOR_S else NOT_MET
    elif verdict == FLOOR_MET and not lag < OUTBOX_LAG_FLOOR_S:
        verdict = NOT_MET
    return [
        Row(
            f"Outbox: events of a {run.renewal.count:,}-renewal run (null provider, "
            f"{run.renewal.workers} workers) sequenced and delivered to one webhook endpoint "
            "by one `tenure relay`",
            "postgres",
            run.describe(),
            f"renewals in the same run {_n(run.renewal.rate)}/s",
            f"{factor:.2f}{TIMES} the renewal rate; lag p99 {lag:.2f} s"
            if factor is not None
            else NONE,
            _goal(OUTBOX),
            verdict,
        )
    ]


def memory_rows(results: Results) -> list[Row]:
    run = results.memory
    if run is None:
        return []
    verdict = MEMORY.verdict(run.growth_mb, valid=run.complete)
    if verdict is not None and run.customers < MEMORY_FULL_COUNT:
        verdict += f" at {run.customers:,} (the goal is for 1,000,000: `--full`)"
    return [
        Row(
            f"API process memory: {run.customers:,} distinct customers read ({run.method})",
            run.backend,
            run.describe(),
            f"RSS before the reads {run.before_mb:,.0f} MB",
            f"+{run.growth_mb:,.0f} MB",
            _goal(MEMORY),
            verdict,
        )
    ]


def _verdict(row: Row) -> str:
    return NONE if row.verdict is None else row.verdict


def _table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| Scenario | DB | Result | Baseline | Ratio | Goal (floor) | Verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.scenario} | {row.backend} | {row.result} | {row.baseline} | {row.ratio} "
            f"| {row.goal} | {_verdict(row)} |"
        )
    return lines


def _baselines(results: Results) -> list[str]:
    lines = ["| Id | Baseline | Result |", "|---|---|---|"]
    for run in results.pgbench:
        lines.append(
            f"| T(c={run.clients}) | `{run.command}`, scale {run.scale}, {run.seconds} s | "
            f"{_n(run.tps)} tps, {run.latency_ms:.2f} ms average latency |"
        )
    if results.raw:
        raw = results.raw
        lines.append(
            f"| H | raw ASGI app on the same Granian settings, {raw.body_bytes}-byte JSON "
            f"entitlement body (`bench/rawapp.py`) | {_n(raw.closed.rps)} req/s max; "
            f"{_latency(raw.fixed)} |"
        )
        fixed = raw.fixed
        check = (
            f"held: {fixed.held:.1%} of the scheduled {fixed.scheduled:,} requests answered "
            "(2xx) within the run"
            if raw.held
            else f"**NOT held** ({_why_not_held(fixed)}), so H's p99 (and every p99 ratio to "
            "it) is not trustworthy"
        )
        lines.append(
            f"| Client check | `{fixed.generator}` at 80% of H's max against H, before any "
            f"Tenure read | {check}; p99 send lag (waiting for a free connection) "
            f"{_ms(fixed.send_lag_p99_ms)} ms; client CPU {fixed.client_cpu:.0%} of its core "
            "(near 100%: the client, not H, set the pace) |"
        )
    return lines


def _why_not_held(fixed: LoadResult) -> str:
    if fixed.client_cpu >= CLIENT_BUSY:
        return f"the client used {fixed.client_cpu:.0%} of its core: it set the pace"
    if fixed.errors - fixed.unanswered:
        return f"{fixed.errors - fixed.unanswered:,} errors"
    return (
        f"H answered {fixed.held:.1%} of the scheduled rate in time with the client "
        f"{fixed.client_cpu:.0%} busy: H's core was short of CPU"
    )


def _fixed_generator(results: Results) -> str:
    raw = results.raw
    return f"`{raw.fixed.generator}`" if raw else "`bench/openloop.c` (C) or `bench/loadgen.py`"


def _costs(costs: Sequence[Cost]) -> str:
    parts = [f"`{cost.name}` {cost.share:.0%}" for cost in costs]
    return "; ".join(parts) if parts else NONE


def _queries(profile: Profile) -> list[str]:
    per = profile.items or 1
    lines = [
        f"- SQL: {profile.items:,} items in {profile.wall:.1f} s; per item "
        f"{profile.executions / per:.1f} statement executions (an executemany counts once) and "
        f"{profile.commits / per:.2f} commits. By total time (share of all SQL time; statements "
        "overlap when calls run concurrently):"
    ]
    for cost in profile.queries:
        average = cost.seconds / cost.calls * 1000 if cost.calls else 0.0
        lines.append(
            f"  - {cost.share:.0%}: `{cost.name}`: {cost.seconds:.2f} s over "
            f"{cost.calls:,} executions ({average:.1f} ms each)"
        )
    return lines


def _profile(profile: Profile) -> list[str]:
    lines = [f"**{profile.label}**" + (f" ({profile.note})" if profile.note else "")]
    if profile.samples:
        lines.append(f"- py-spy, {profile.samples:,} Python samples. By library (self time): ")
        lines[-1] += _costs(profile.layers[:6])
        lines.append(f"- Hottest frames (self): {_costs(profile.hotspots[:6])}")
        lines.append(f"- Tenure functions (inclusive): {_costs(profile.functions[:8])}")
    if profile.queries:
        lines += _queries(profile)
    return [*lines, ""]


def render(results: Results, *, checkout_connections: int) -> str:
    facts = results.facts
    rows = [
        *read_rows(results),
        *checkout_rows(results, checkout_connections),
        *renewal_rows(results),
        *outbox_rows(results),
        *memory_rows(results),
    ]
    sha = facts.sha + (" (with uncommitted changes)" if facts.dirty else "")
    out = [
        BEGIN,
        "",
        f"- **Command:** `{results.command}`",
        f"- **Commit:** `{sha}`",
        f"- **Date:** {facts.date}",
        f"- **Machine:** nproc {facts.nproc}, {facts.cpu_model}, {facts.memory_gib:.0f} GiB; "
        f"Python {facts.python} ({facts.libraries}); {facts.postgres} ({facts.postgres_settings})",
        f"- **Other load on the box:** CPU {results.cpu_busy_before:.0%} busy just before the "
        f"run; load average {facts.load_average} at start, {results.end_load} at the end",
        "- **Placement:** HTTP servers pinned to CPU 0 (`taskset`), load generators to CPU 1, "
        "PostgreSQL unpinned; loopback only. Closed loop (max throughput): "
        f"{results.closed_loop_generator}; fixed rate (open loop, latency counted from each "
        f"request's scheduled time): {_fixed_generator(results)}, cache hits at 80% of H's "
        "max (the rate of H's own p99), cache misses at 80% of their own max.",
        "- **Phases (s):** "
        + ", ".join(f"{name} {seconds:.0f}" for name, seconds in results.phase_seconds.items()),
        "",
        "### Baselines (same run)",
        "",
        *_baselines(results),
        "",
        "### Results",
        "",
        *_table(rows),
        "",
    ]
    if results.renewals or results.outbox:
        out += ["### Renewal correctness", ""]
        for run in results.renewals:
            out.append(
                f"- {run.provider} provider: {run.verification.describe()} "
                f"(seeded with COPY in {run.seed_seconds:.1f} s)."
            )
        if results.outbox:
            out.append(f"- outbox run (null provider): {results.outbox.correctness()}.")
        out.append("")
    profiles = [p for backend in results.backends for p in backend.profiles]
    profiles += results.flow_profiles
    if profiles:
        out += ["### Profiles", ""]
        for profile in profiles:
            out += _profile(profile)
    if results.errors:
        out += ["### Errors", "", *[f"- {error}" for error in results.errors], ""]
    out.append(END)
    return "\n".join(out)


_HEADER = """# Performance

`make bench` (`python -m bench`, add `ARGS=--full` for 1,000,000 renewals) measures Tenure
next to baselines taken in the same run on the same machine, and writes the block below. It is
not part of `make test`; `tests/bench/test_harness_smoke.py` runs the harness's pieces at tiny
sizes inside it. Method: bench/README.md.

"""


def write(path: Path, block: str) -> None:
    """Replace the generated block in ``path``, keeping everything around it."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = _HEADER + block + "\n"
    path.write_text(text)
