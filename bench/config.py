"""What one benchmark run does, and how long each phase may take."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.machine import ROOT

PHASES = ("pgbench", "postgres", "raw", "sqlite", "renewal", "memory", "profile")


@dataclass(frozen=True)
class Config:
    admin_url: str
    workdir: Path
    output: Path = ROOT / "docs" / "performance.md"
    full: bool = False
    phases: tuple[str, ...] = PHASES
    # Baseline T
    pgbench_scale: int = 10
    pgbench_seconds: int = 12
    pgbench_clients: tuple[int, ...] = (2, 8)
    # HTTP: the server on one core, the load generator on the other
    server_cpu: str | None = "0"
    generator_cpu: str | None = "1"
    use_wrk: bool = True
    use_openloop: bool = True  # the C fixed-rate client (bench/openloop.c) when gcc is there
    customers: int = 600  # checkouts per backend, then the rotating read population
    hot_set: int = 10
    max_read_population: int = 30_000  # users in rotation for cache misses, at most
    connections: int = 32
    checkout_connections: int = 8
    warmup_seconds: float = 1.0
    closed_seconds: float = 6.0
    rate_seconds: float = 6.0
    load_fraction: float = 0.8
    read_endpoints: tuple[str, ...] = (
        "/v1/entitlements/{external_id}",
        "/v1/customers/{id}/entitlements",
    )
    # Renewal run
    renewal_workers: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    renewal_budget: float = 240.0  # per drain; a longer one is stopped and reported partial
    profile_renewals: int = 10_000
    renewal_count: int | None = None  # None: 100,000, or 1,000,000 with --full
    # The outbox run (renewals drained while `tenure relay` delivers to a webhook sink)
    outbox_count: int | None = None  # None: 5,000, or 20,000 with --full
    # The memory run: distinct customers read through the API
    memory_count: int | None = None  # None: 100,000, or 1,000,000 with --full

    @property
    def renewal_total(self) -> int:
        if self.renewal_count is not None:
            return self.renewal_count
        return 1_000_000 if self.full else 100_000

    @property
    def outbox_total(self) -> int:
        if self.outbox_count is not None:
            return self.outbox_count
        return 20_000 if self.full else 5_000

    @property
    def memory_total(self) -> int:
        if self.memory_count is not None:
            return self.memory_count
        return 1_000_000 if self.full else 100_000

    @property
    def drain_budget(self) -> float:
        # --full: 1,000,000 at the sandbox's rate before issue 17 (516/s) takes about 32 minutes.
        return max(self.renewal_budget, 2400.0) if self.full else self.renewal_budget
