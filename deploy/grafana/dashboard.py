"""The Tenure Grafana dashboard, built with grafanalib; writes deploy/grafana/tenure.json.

    .venv/bin/python deploy/grafana/dashboard.py        # regenerate after editing this file

tests/deploy/test_dashboard.py checks that tenure.json is what this file generates and that
every metric a panel queries is one Tenure exports (or a recording rule in alerts.yml).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    RowPanel,
    Stat,
    Target,
    Template,
    Templating,
    TimeSeries,
)

HERE = Path(__file__).parent
OUTPUT = HERE / "tenure.json"
DATASOURCE = "${datasource}"
WIDTH = 24


class Layout:
    """Places panels left to right, rows of ``height``, 24 columns wide."""

    def __init__(self) -> None:
        self.y = 0
        self.x = 0

    def row(self, title: str) -> RowPanel:
        self.y += 1 if self.x == 0 else 9
        self.x = 0
        return RowPanel(title=title, gridPos=GridPos(h=1, w=WIDTH, x=0, y=self.y - 1))

    def place(self, width: int, height: int = 8) -> GridPos:
        if self.x + width > WIDTH:
            self.x = 0
            self.y += height
        position = GridPos(h=height, w=width, x=self.x, y=self.y)
        self.x += width
        return position


def _targets(*queries: tuple[str, str]) -> list[Target]:
    return [
        Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + index))
        for index, (expr, legend) in enumerate(queries)
    ]


def series(
    layout: Layout, title: str, *queries: tuple[str, str], unit: str = "", width: int = 8
) -> TimeSeries:
    return TimeSeries(
        title=title,
        dataSource=DATASOURCE,
        targets=_targets(*queries),
        unit=unit,
        gridPos=layout.place(width),
    )


def stat(layout: Layout, title: str, expr: str, unit: str = "", width: int = 6) -> Stat:
    return Stat(
        title=title,
        dataSource=DATASOURCE,
        targets=_targets((expr, title)),
        format=unit or "none",
        gridPos=layout.place(width, 4),
    )


def build() -> Dashboard:
    layout = Layout()
    live = 'mode="live"'
    panels: list[Any] = [
        layout.row("Service level"),
        stat(
            layout,
            "Entitlement read errors (1h)",
            "tenure:entitlement_read_errors:ratio_rate1h",
            "percentunit",
        ),
        stat(
            layout,
            "Entitlement read p99 (5m)",
            "tenure:entitlement_read_p99_seconds:5m",
            "s",
        ),
        stat(layout, "Renewal lag", "max(tenure_due_work_lag_seconds)", "s"),
        stat(layout, "Outbox lag", "max(tenure_outbox_oldest_unsequenced_age_seconds)", "s"),
        layout.row("Business"),
        series(
            layout,
            "Live subscriptions by status",
            (
                f"max by (status) (sum by (status, instance) (tenure_subscriptions{{{live}}}))",
                "{{status}}",
            ),
        ),
        series(
            layout,
            "Active subscriptions by product and market",
            (
                f'max by (product, market) (tenure_subscriptions{{status="active",{live}}})',
                "{{product}} {{market}}",
            ),
        ),
        series(
            layout,
            "MRR by currency (major units)",
            (f"max by (currency) (tenure_mrr_minor_units{{{live}}}) / 100", "{{currency}}"),
        ),
        series(
            layout,
            "Renewals by outcome and decline class",
            (
                'sum by (outcome, decline_class) (rate(tenure_charges_total{reason=~"subscription_cycle|trial_end"}[$__rate_interval]))',
                "{{outcome}} {{decline_class}}",
            ),
            unit="ops",
        ),
        series(
            layout,
            "Dunning",
            (
                "sum by (transition) (increase(tenure_dunning_transitions_total[1h]))",
                "{{transition}}",
            ),
        ),
        series(
            layout,
            "Entitlement cache hit ratio",
            (
                'sum(rate(tenure_entitlement_cache_total{result="hit"}[$__rate_interval])) / sum(rate(tenure_entitlement_cache_total[$__rate_interval]))',
                "hit ratio",
            ),
            unit="percentunit",
        ),
        layout.row("HTTP"),
        series(
            layout,
            "Requests by route",
            (
                "sum by (route) (rate(tenure_http_requests_total[$__rate_interval]))",
                "{{route}}",
            ),
            unit="reqps",
            width=12,
        ),
        series(
            layout,
            "5xx by route",
            (
                'sum by (route) (rate(tenure_http_requests_total{status=~"5.."}[$__rate_interval]))',
                "{{route}}",
            ),
            unit="reqps",
            width=12,
        ),
        series(
            layout,
            "p99 latency by route",
            (
                "histogram_quantile(0.99, sum by (le, route) (rate(tenure_http_request_duration_seconds_bucket[$__rate_interval])))",
                "{{route}}",
            ),
            unit="s",
            width=24,
        ),
        layout.row("Worker, outbox and delivery"),
        series(
            layout,
            "Worker step and batch duration p95",
            (
                "histogram_quantile(0.95, sum by (le, step) (rate(tenure_worker_step_duration_seconds_bucket[$__rate_interval])))",
                "step {{step}}",
            ),
            (
                "histogram_quantile(0.95, sum by (le, kind) (rate(tenure_worker_batch_duration_seconds_bucket[$__rate_interval])))",
                "batch {{kind}}",
            ),
            unit="s",
        ),
        series(
            layout,
            "Worker items and failures",
            ("sum by (step) (rate(tenure_worker_items_total[$__rate_interval]))", "{{step}}"),
            (
                "sum by (step) (rate(tenure_worker_step_failures_total[$__rate_interval]))",
                "failed {{step}}",
            ),
            unit="ops",
        ),
        series(
            layout,
            "Due work",
            ("max(tenure_due_work_lag_seconds)", "lag (s)"),
            ("max(tenure_due_work_overdue_subscriptions)", "overdue subscriptions"),
        ),
        series(
            layout,
            "Outbox",
            ("max(tenure_outbox_oldest_unsequenced_age_seconds)", "oldest unnumbered (s)"),
            ("max(tenure_outbox_unsequenced_events)", "unnumbered events"),
            ("max by (kind) (tenure_relay_fanout_backlog_events)", "fan-out backlog {{kind}}"),
        ),
        series(
            layout,
            "Undelivered by destination",
            ("max by (destination) (tenure_deliveries_undelivered)", "{{destination}}"),
            (
                "max by (kind) (tenure_deliveries_oldest_unattempted_age_seconds)",
                "oldest unattempted {{kind}} (s)",
            ),
        ),
        series(
            layout,
            "Relay outcomes",
            (
                "sum by (kind, outcome) (rate(tenure_relay_deliveries_total[$__rate_interval]))",
                "{{kind}} {{outcome}}",
            ),
            unit="ops",
        ),
        series(
            layout,
            "Webhook latency p95 by endpoint",
            (
                "histogram_quantile(0.95, sum by (le, endpoint) (rate(tenure_webhook_delivery_duration_seconds_bucket[$__rate_interval])))",
                "{{endpoint}}",
            ),
            unit="s",
            width=12,
        ),
        series(
            layout,
            "Webhook failures by endpoint",
            (
                'sum by (endpoint) (rate(tenure_webhook_deliveries_total{outcome="failed"}[$__rate_interval]))',
                "{{endpoint}}",
            ),
            unit="ops",
            width=12,
        ),
        layout.row("Payments"),
        series(
            layout,
            "Provider call latency p95",
            (
                "histogram_quantile(0.95, sum by (le, operation) (rate(tenure_provider_call_duration_seconds_bucket[$__rate_interval])))",
                "{{operation}}",
            ),
            unit="s",
            width=12,
        ),
        series(
            layout,
            "Provider outcomes and unresolved attempts",
            (
                "sum by (outcome) (rate(tenure_provider_call_duration_seconds_count[$__rate_interval]))",
                "{{outcome}}",
            ),
            ("max(tenure_payment_attempts_unresolved)", "unresolved attempts"),
            width=12,
        ),
    ]
    return Dashboard(
        title="Tenure",
        uid="tenure-overview",
        description="Tenure service levels, business, worker, outbox and payments (docs/slo.md)",
        tags=["tenure"],
        timezone="utc",
        refresh="30s",
        panels=panels,
        templating=Templating(
            list=[
                Template(
                    name="datasource",
                    label="Prometheus",
                    query="prometheus",
                    type="datasource",
                    default="Prometheus",
                )
            ]
        ),
    ).auto_panel_ids()


def render() -> str:
    return json.dumps(build().to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUTPUT.write_text(render())
    sys.stdout.write(f"wrote {OUTPUT}\n")


if __name__ == "__main__":
    main()
