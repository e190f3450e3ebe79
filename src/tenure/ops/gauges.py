"""Business and lag gauges, computed in SQL at scrape time and cached.

Never on the request path: ``GET /metrics`` refreshes them when the cache is older than its
TTL, one refresh at a time per process, with a time limit (a slow database makes the scrape
report the previous values and ``tenure_gauges_up 0``, never hang).

Two TTLs: lags (outbox, deliveries, due work, payments) are index probes and refresh every
``TENURE_METRICS_TTL`` seconds (5); the subscription census and MRR read every live
subscription and refresh every ``TENURE_METRICS_CENSUS_TTL`` seconds (60).

Labels: ``mode`` is ``live`` for real customers and ``test`` for test-clock customers, so
dashboards and alerts can leave sandbox traffic out. MRR is list price (the locked-in
``price_amount``) normalised to a month, in minor units per currency, for ``active`` and
``past_due`` subscriptions; discounts and intro prices are not deducted.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Final

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.catalog.model import Catalog
from tenure.db.engine import Database
from tenure.events.delivery_models import PENDING, EventDelivery, RelayCursor
from tenure.events.models import OutboxEvent
from tenure.kernel.calendar import Interval
from tenure.observability.metrics import register
from tenure.payments.models import PaymentAttempt
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.state import LIVE_STATUSES, Status
from tenure.workers.relay import RelayConfig

log = structlog.get_logger(__name__)

_MONTHS: Final = {
    Interval.DAY: Fraction(12, 365),
    Interval.WEEK: Fraction(12, 52),
    Interval.MONTH: Fraction(1),
    Interval.YEAR: Fraction(12),
}
PAYING: Final = frozenset({Status.ACTIVE.value, Status.PAST_DUE.value})
REFRESH_TIMEOUT: Final = 3.0


def _ttl(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name) or default))
    except ValueError:
        return default


@dataclass
class Snapshot:
    subscriptions: dict[tuple[str, str, str, str, str], int] = field(default_factory=dict)
    mrr: dict[tuple[str, str], float] = field(default_factory=dict)
    unsequenced: int = 0
    unsequenced_age: float = 0.0
    undelivered: dict[tuple[str, str], int] = field(default_factory=dict)
    undelivered_age: dict[tuple[str, str], float] = field(default_factory=dict)
    fanout_backlog: dict[str, int] = field(default_factory=dict)
    unattempted_age: dict[str, float] = field(default_factory=dict)
    due_lag: float = 0.0
    due_overdue: int = 0
    unresolved_payments: int = 0
    refreshed_at: float = 0.0
    census_at: float = 0.0
    up: bool = False


def _mode(test_clock: object) -> str:
    return "live" if test_clock is None else "test"


class BusinessGauges(Collector):
    def __init__(
        self,
        *,
        ttl: float | None = None,
        census_ttl: float | None = None,
        kinds: Iterable[str] = (),
    ) -> None:
        self.ttl = _ttl("TENURE_METRICS_TTL", 5.0) if ttl is None else ttl
        self.census_ttl = (
            _ttl("TENURE_METRICS_CENSUS_TTL", 60.0) if census_ttl is None else census_ttl
        )
        # NATS only when configured: otherwise its cursor never moves and would look stuck.
        self.kinds = tuple(kinds) or (
            ("webhook", "nats") if RelayConfig.from_env().nats_url else ("webhook",)
        )
        self.snapshot = Snapshot()
        self._lock = asyncio.Lock()

    async def refresh(self, db: Database, catalog: Catalog, now: datetime) -> None:
        """Recompute what is older than its TTL; never raises."""
        if time.monotonic() - self.snapshot.refreshed_at < self.ttl and self.snapshot.up:
            return
        async with self._lock:
            current = self.snapshot
            if time.monotonic() - current.refreshed_at < self.ttl and current.up:
                return
            try:
                self.snapshot = await asyncio.wait_for(
                    self._compute(db, catalog, now, current), timeout=REFRESH_TIMEOUT
                )
            except Exception as error:  # the scrape still answers, with the old values
                log.warning("metrics.gauges_failed", exc_info=error)
                current.up = False
                current.refreshed_at = time.monotonic()

    async def _compute(
        self, db: Database, catalog: Catalog, now: datetime, previous: Snapshot
    ) -> Snapshot:
        snap = Snapshot(refreshed_at=time.monotonic(), up=True)
        async with db.read() as session:
            if time.monotonic() - previous.census_at >= self.census_ttl or not previous.up:
                await self._census(session, catalog, snap)
                snap.census_at = time.monotonic()
            else:
                snap.subscriptions, snap.mrr = previous.subscriptions, previous.mrr
                snap.census_at = previous.census_at
            await self._outbox(session, now, snap)
            await self._due(session, now, snap)
        return snap

    async def _census(self, session: AsyncSession, catalog: Catalog, snap: Snapshot) -> None:
        s = Subscription
        mode = case((s.test_clock_id.is_(None), "live"), else_="test")
        rows = await session.execute(
            select(
                s.status,
                s.product_id,
                s.market,
                mode,
                s.channel,
                s.plan_id,
                s.currency,
                func.count(),
                func.sum(s.price_amount),
            )
            .where(s.status.in_(sorted(LIVE_STATUSES)))
            .group_by(s.status, s.product_id, s.market, mode, s.channel, s.plan_id, s.currency)
        )
        mrr: dict[tuple[str, str], Fraction] = {}
        for status, product, market, kind, channel, plan_id, currency, count, amount in rows:
            key = (status, product, market, kind, channel)
            snap.subscriptions[key] = snap.subscriptions.get(key, 0) + int(count)
            plan = catalog.plans.get(plan_id)
            if status in PAYING and plan is not None:
                months = _MONTHS[plan.interval] * plan.interval_count
                mrr[(currency, kind)] = mrr.get((currency, kind), Fraction(0)) + (
                    Fraction(int(amount or 0)) / months
                )
        snap.mrr = {key: float(value) for key, value in mrr.items()}

    async def _outbox(self, session: AsyncSession, now: datetime, snap: Snapshot) -> None:
        e, d = OutboxEvent, EventDelivery
        oldest = await session.scalar(
            select(e.recorded_at).where(e.position.is_(None)).order_by(e.pk).limit(1)
        )
        snap.unsequenced = int(
            await session.scalar(select(func.count()).where(e.position.is_(None))) or 0
        )
        snap.unsequenced_age = _age(now, oldest)
        rows = await session.execute(
            select(d.kind, d.destination, func.count(), func.min(d.created_at))
            .where(d.status == PENDING)
            .group_by(d.kind, d.destination)
        )
        for kind, destination, count, first in rows:
            snap.undelivered[(kind, destination)] = int(count)
            snap.undelivered_age[(kind, destination)] = _age(now, first)
        unattempted = await session.execute(
            select(d.kind, func.min(d.created_at))
            .where(d.status == PENDING, d.attempts == 0)
            .group_by(d.kind)
        )
        for kind, first in unattempted:
            snap.unattempted_age[kind] = _age(now, first)
        last = int(await session.scalar(select(func.coalesce(func.max(e.position), 0))) or 0)
        cursors = {
            name: position
            for name, position in await session.execute(
                select(RelayCursor.name, RelayCursor.position)
            )
        }
        for kind in self.kinds:
            snap.fanout_backlog[kind] = max(0, last - int(cursors.get(kind, 0)))

    async def _due(self, session: AsyncSession, now: datetime, snap: Snapshot) -> None:
        s, a = Subscription, PaymentAttempt
        overdue = (s.test_clock_id.is_(None), s.next_action_at <= now)
        oldest = await session.scalar(select(func.min(s.next_action_at)).where(*overdue))
        snap.due_lag = _age(now, oldest)
        snap.due_overdue = int(await session.scalar(select(func.count()).where(*overdue)) or 0)
        snap.unresolved_payments = int(
            await session.scalar(
                select(func.count()).where(a.status == "pending", a.lease_until < now)
            )
            or 0
        )

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        subs = GaugeMetricFamily(
            "tenure_subscriptions",
            "Live subscriptions (incomplete, trialing, active, past_due, on_hold), by channel "
            "(web, app_store, google_play)",
            labels=["status", "product", "market", "mode", "channel"],
        )
        for labels, count in sorted(snap.subscriptions.items()):
            subs.add_metric(list(labels), count)
        yield subs
        mrr = GaugeMetricFamily(
            "tenure_mrr_minor_units",
            "Monthly recurring revenue at list price, in the currency's minor units",
            labels=["currency", "mode"],
        )
        for (currency, kind), value in sorted(snap.mrr.items()):
            mrr.add_metric([currency, kind], value)
        yield mrr
        yield _single(
            "tenure_outbox_unsequenced_events",
            "Committed events not yet numbered",
            snap.unsequenced,
        )
        yield _single(
            "tenure_outbox_oldest_unsequenced_age_seconds",
            "Age of the oldest committed event not yet numbered (0 when none)",
            snap.unsequenced_age,
        )
        yield _by_destination(
            "tenure_deliveries_undelivered",
            "Deliveries waiting to be sent (pending), per destination",
            snap.undelivered,
        )
        yield _by_destination(
            "tenure_deliveries_oldest_undelivered_age_seconds",
            "Age of the oldest pending delivery, per destination",
            snap.undelivered_age,
        )
        unattempted = GaugeMetricFamily(
            "tenure_deliveries_oldest_unattempted_age_seconds",
            "Age of the oldest delivery never attempted yet, per kind: the relay's own lag "
            "(0 when none)",
            labels=["kind"],
        )
        for kind in self.kinds:
            unattempted.add_metric([kind], snap.unattempted_age.get(kind, 0.0))
        yield unattempted
        backlog = GaugeMetricFamily(
            "tenure_relay_fanout_backlog_events",
            "Numbered events the relay has not yet fanned out, per kind of destination",
            labels=["kind"],
        )
        for kind, value in sorted(snap.fanout_backlog.items()):
            backlog.add_metric([kind], value)
        yield backlog
        yield _single(
            "tenure_due_work_lag_seconds",
            "Now minus the oldest next_action_at not yet handled (real-time subscriptions)",
            snap.due_lag,
        )
        yield _single(
            "tenure_due_work_overdue_subscriptions",
            "Real-time subscriptions whose next_action_at has passed",
            snap.due_overdue,
        )
        yield _single(
            "tenure_payment_attempts_unresolved",
            "Pending payment attempts whose lease ran out (waiting for recovery)",
            snap.unresolved_payments,
        )
        yield _single("tenure_gauges_up", "1 if the last gauge refresh succeeded", int(snap.up))
        yield _single(
            "tenure_gauges_age_seconds",
            "Seconds since the gauges were last computed",
            time.monotonic() - snap.refreshed_at if snap.refreshed_at else 0.0,
        )


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def _single(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _by_destination(
    name: str, documentation: str, values: Mapping[tuple[str, str], float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["kind", "destination"])
    for (kind, destination), value in sorted(values.items()):
        family.add_metric([kind, destination], value)
    return family


class GaugeSlot(Collector):
    """The one collector registered for scrapes; each app points it at its own gauges."""

    def __init__(self) -> None:
        self.current: BusinessGauges | None = None

    def collect(self) -> Iterable[Metric]:
        return self.current.collect() if self.current is not None else []


SLOT: Final = GaugeSlot()
register(SLOT)
