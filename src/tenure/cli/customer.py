"""``tenure customer show ID``: a customer's whole state on one screen."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from tenure.cli.common import (
    CatalogOption,
    DatabaseOption,
    JsonOption,
    emit_json,
    out,
    ts,
    with_runtime,
)
from tenure.kernel.money import format_minor
from tenure.ops.customer import LIMIT, Overview, overview

app = typer.Typer(help="Inspect customers.")


def _money(amount: int, currency: str) -> str:
    try:
        return f"{format_minor(amount, currency)} {currency}"
    except Exception:  # an unknown currency still shows its minor units
        return f"{amount} {currency}"


_IDS = frozenset({"id", "invoice", "event", "subscription", "destination"})


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        table.add_column(column, no_wrap=column in _IDS)  # ids are copied: never cut
    return table


def render(view: Overview) -> Group:
    c = view.customer
    header = (
        f"[bold]{c['id']}[/]  external_id {c['external_id']}  market {c['market']}"
        f"{'  region ' + c['region'] if c.get('region') else ''}"
        f"{'  test clock ' + c['test_clock_id'] if c.get('test_clock_id') else ''}"
        f"  since {ts(c['created_at'])}"
    )
    ent = view.entitlements
    access = "entitlements: no projection row"
    if ent is not None:
        until = f"  until {ts(ent['valid_until'])}" if ent["valid_until"] else ""
        issue = "  billing issue" if ent["billing_issue"] else ""
        access = (
            f"entitlements: {ent['product']} via {ent['source']} ({ent['status']})"
            f"{issue}{until}  version {ent['version']}"
        )
    subs = _table("Subscriptions", "id", "status", "plan", "period", "next action", "cancel")
    for s in view.subscriptions:
        subs.add_row(
            s["id"],
            s["status"],
            s["plan_id"],
            f"{ts(s['current_period_start'])} → {ts(s['current_period_end'])}",
            ts(s["next_action_at"]),
            "at period end" if s.get("canceled_at") and not s.get("ended_at") else "",
        )
    invoices = _table("Invoices", "id", "status", "reason", "period", "total", "credit", "paid")
    for i in view.invoices:
        invoices.add_row(
            i["id"],
            i["status"],
            i["billing_reason"],
            f"{ts(i['period_start'])[:10]} → {ts(i['period_end'])[:10]}",
            _money(i["total"], i["currency"]),
            _money(i["credit_applied"], i["currency"]),
            _money(i["amount_paid"], i["currency"]),
        )
    payments = _table("Payments", "id", "invoice", "status", "amount", "decline", "at")
    for a in view.payments:
        payments.add_row(
            a["id"],
            a["invoice_id"],
            a["status"],
            _money(a["amount"], a["currency"]),
            a["decline_code"] or "",
            ts(a["completed_at"] or a["created_at"]),
        )
    for n in view.refunds:
        payments.add_row(
            n["id"], n["invoice_id"], f"refund {n['status']}", _money(-n["amount"], n["currency"])
        )
    events = _table("Events", "position", "type", "subscription", "created", "request id")
    for e in view.events:
        events.add_row(
            "" if e["position"] is None else str(e["position"]),
            e["type"],
            e["subscription_id"] or "",
            ts(e["created"]),
            e["request_id"] or "",
        )
    deliveries = _table("Deliveries", "event", "destination", "status", "attempts", "last")
    for d in view.deliveries:
        last = d["last_error"] or (str(d["last_status_code"]) if d["last_status_code"] else "")
        deliveries.add_row(
            d["event_id"], d["destination"], d["status"], str(d["attempts"]), last[:60]
        )
    return Group(
        Panel(f"{header}\n{access}", title="Customer"), subs, invoices, payments, events, deliveries
    )


def _plain(view: Overview) -> dict[str, Any]:
    return view.as_dict()


@app.command("show")
def show(
    customer: Annotated[str, typer.Argument(help="Customer id (cus_…) or your external id.")],
    database_url: DatabaseOption = "sqlite:///./tenure.db",
    catalog: CatalogOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows per section.")] = LIMIT,
    json: JsonOption = False,
) -> None:
    """Subscriptions, invoices, payments, events and deliveries of one customer."""
    view = with_runtime(database_url, catalog, lambda rt: overview(rt, customer, limit=limit))
    if json:
        emit_json(_plain(view))
        return
    out.print(render(view))
