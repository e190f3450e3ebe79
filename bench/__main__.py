"""``python -m bench [--full] [--phases a,b] ...``: run the benchmark, write the report.

Every phase runs in a try/finally that stops its servers and drops its databases; a failing
phase is recorded in the report and the run goes on, exiting non-zero at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import checkout, machine, memory, outbox, pgbench, renewal, report, web, wrk
from bench.config import PHASES, Config
from bench.console import log
from bench.drive import Generator
from bench.pg import admin_url_from_env, throwaway_database
from bench.runtime import ProviderName, setup_database
from tenure.migrations import upgrade


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="1,000,000 renewals, not 100,000")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}"
    )
    parser.add_argument("--output", type=Path, help="report file (default docs/performance.md)")
    parser.add_argument("--renewals", type=int, help="override the renewal count")
    parser.add_argument(
        "--outbox-renewals", type=int, help="renewals in the outbox run (0: no outbox run)"
    )
    parser.add_argument("--memory-customers", type=int, help="distinct customers read (memory)")
    parser.add_argument("--renewal-budget", type=float, help="seconds per drain before a stop")
    parser.add_argument("--customers", type=int, help="checkouts / read population per DB")
    parser.add_argument("--seconds", type=float, help="closed-loop and fixed-rate run length")
    parser.add_argument("--no-wrk", action="store_true", help="closed loop with bench.loadgen")
    parser.add_argument(
        "--no-openloop", action="store_true", help="fixed rate with bench.loadgen, not the C client"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--wait-quiet", type=float, default=60.0, help="wait up to N s for an idle machine"
    )
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace, workdir: Path) -> Config:
    phases = tuple(p for p in args.phases.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phase(s) {sorted(unknown)}; choose from {PHASES}")
    config = Config(admin_url=admin_url_from_env(), workdir=workdir, full=args.full, phases=phases)
    overrides: dict[str, object] = {}
    if args.output:
        overrides["output"] = args.output.resolve()
    if args.renewal_budget:
        overrides["renewal_budget"] = args.renewal_budget
    if args.customers:
        overrides["customers"] = args.customers
    if args.seconds:
        overrides["closed_seconds"] = overrides["rate_seconds"] = args.seconds
    if args.no_wrk:
        overrides["use_wrk"] = False
    if args.no_openloop:
        overrides["use_openloop"] = False
    if args.no_pin:
        overrides["server_cpu"] = overrides["generator_cpu"] = None
    if args.renewals:
        overrides["renewal_count"] = args.renewals
    if args.outbox_renewals is not None:
        overrides["outbox_count"] = args.outbox_renewals
    if args.memory_customers:
        overrides["memory_count"] = args.memory_customers
    return Config(**{**config.__dict__, **overrides})


class Runner:
    def __init__(self, config: Config, results: report.Results) -> None:
        self.config = config
        self.results = results

    async def phase(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        if name not in self.config.phases:
            return
        log(f"{name} ...")
        started = time.perf_counter()
        try:
            await body()
        except Exception as error:  # recorded in the report; the other phases still run
            traceback.print_exc()
            self.results.errors.append(f"{name}: {type(error).__name__}: {error}")
        finally:
            self.results.phase_seconds[name] = time.perf_counter() - started
            log(f"{name} done in {self.results.phase_seconds[name]:.0f} s")

    async def pgbench(self) -> None:
        config = self.config
        self.results.pgbench = await pgbench.tpcb_like(
            config.admin_url,
            clients=config.pgbench_clients,
            seconds=config.pgbench_seconds,
            scale=config.pgbench_scale,
        )

    async def postgres(self) -> None:
        async with throwaway_database(self.config.admin_url) as url:
            profile = "profile" in self.config.phases
            self.results.backends.append(
                await web.run_backend(
                    self.config, "postgres", url, profile=profile, baseline=self.baseline
                )
            )

    async def baseline(self, body: bytes) -> web.RawResult:
        """H, measured once per run (by the first backend phase, with the body it captured),
        before any entitlement read: the reads' fixed rate is 80% of H's maximum."""
        if self.results.raw is None:
            log("  H (raw ASGI baseline) ...")
            self.results.raw = await web.run_raw(self.config, body, self.config.customers)
            raw = self.results.raw
            log(
                f"  H: {raw.closed.rps:,.0f}/s max; at {raw.fixed.offered_rps:,.0f}/s p99 "
                f"{raw.fixed.p99_ms:.1f} ms, {raw.fixed.held:.1%} of the rate held"
            )
        return self.results.raw

    async def raw(self) -> None:
        """H on its own (when no backend phase measured it already)."""
        await self.baseline(web.synthetic_entitlement_body())

    async def sqlite(self) -> None:
        # In the run's temporary directory, which is removed however the run ends.
        url = f"sqlite:///{self.config.workdir / 'bench-sqlite.db'}"
        self.results.backends.append(
            await web.run_backend(self.config, "sqlite", url, profile=False, baseline=self.baseline)
        )

    async def renewal(self) -> None:
        config = self.config
        providers: tuple[ProviderName, ...] = ("sandbox", "null")
        for provider in providers:
            async with throwaway_database(config.admin_url) as url:
                result = await renewal.run(
                    url,
                    provider,
                    config.renewal_total,
                    workers=config.renewal_workers,
                    budget=config.drain_budget,
                )
            log(f"  {provider}: {result.rate:,.0f}/s, {result.verification.describe()}")
            self.results.renewals.append(result)
        if config.outbox_total > 0:
            async with throwaway_database(config.admin_url) as url:
                outbox_run = await outbox.run(
                    url,
                    config.outbox_total,
                    workers=config.renewal_workers,
                    budget=config.drain_budget,
                    workdir=config.workdir,
                )
            self.results.outbox = outbox_run
            log(f"  outbox: {outbox_run.describe()}")
            log(f"  outbox run renewals: {outbox_run.renewal.verification.describe()}")

    async def memory(self) -> None:
        async with throwaway_database(self.config.admin_url) as url:
            self.results.memory = await memory.run(self.config, url, self.config.memory_total)
        log(f"  memory: {self.results.memory.describe()}")

    async def profile(self) -> None:
        config = self.config
        async with throwaway_database(config.admin_url) as url:
            database = setup_database(url)
            try:
                await upgrade(database)
            finally:
                await database.dispose()
            self.results.flow_profiles.append(
                await checkout.profile_flow(url, 300, concurrency=config.checkout_connections)
            )
        sizes: list[tuple[ProviderName, int]] = [
            ("null", config.profile_renewals),
            ("sandbox", config.profile_renewals // 4),
        ]
        for provider, count in sizes:
            async with throwaway_database(config.admin_url) as url:
                profile, _ = await renewal.profile(url, provider, count, config.workdir)
            self.results.flow_profiles.append(profile)


def command_line(argv: list[str]) -> str:
    if os.environ.get("BENCH_COMMAND"):
        return os.environ["BENCH_COMMAND"]
    return shlex.join(["python", "-m", "bench", *argv])


async def run(args: argparse.Namespace, workdir: Path) -> report.Results:
    config = make_config(args, workdir)
    use_wrk = config.use_wrk and wrk.ensure_installed()
    config = Config(**{**config.__dict__, "use_wrk": use_wrk})
    generator = Generator(config.generator_cpu, config.workdir, use_wrk)
    log("waiting for a quiet machine ..." if args.wait_quiet else "starting")
    busy = await machine.wait_for_quiet(args.wait_quiet)
    facts = await machine.collect(config.admin_url)
    closed = f"`{generator.closed_loop_name}` with {config.connections} connections"
    results = report.Results(command_line(args.argv), facts, closed, cpu_busy_before=busy)
    runner = Runner(config, results)
    try:
        await runner.phase("pgbench", runner.pgbench)
        await runner.phase("postgres", runner.postgres)
        await runner.phase("raw", runner.raw)
        await runner.phase("sqlite", runner.sqlite)
        await runner.phase("renewal", runner.renewal)
        await runner.phase("memory", runner.memory)
        await runner.phase("profile", runner.profile)
    finally:
        load = os.getloadavg()
        results.end_load = (round(load[0], 2), round(load[1], 2), round(load[2], 2))
        block = report.render(results, checkout_connections=config.checkout_connections)
        report.write(config.output, block)
        log(f"wrote {config.output}")
    return results


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.argv = argv
    current = asyncio.current_task()
    assert current is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, current.cancel)
    workdir = Path(tempfile.mkdtemp(prefix="tenure-bench-"))
    ok = False
    try:
        results = await run(args, workdir)
        ok = not results.errors
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept server logs and profiles in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
