"""The issue's "done when", as a test: a new user starts a fake provider with the documented
command, serves Tenure on the Stripe or Adyen adapter pointed at it (what ``make run`` does with
the documented variables), runs the README walkthrough unchanged, sees every renewal charged
through the adapter with its attempt's idempotency key (once), then sends a signed dispute
webhook through the fake and watches the subscription follow the catalog's policy."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.test_readme import (
    KEY,
    README,
    answers,
    fenced,
    free_port,
    section,
    stop,
    wait_until,
)

HMAC_KEY = "00112233445566778899AABBCCDDEEFF" * 2
# The variables docs/payments.md tells a user to set for `make run` (plus what `make run` sets).
ENV = {
    "stripe": {
        "TENURE_PAYMENT_PROVIDER": "stripe",
        "TENURE_STRIPE_SECRET_KEY": "sk_test_fake",
        "TENURE_STRIPE_WEBHOOK_SECRET": "whsec_fake",
    },
    "adyen": {
        "TENURE_PAYMENT_PROVIDER": "adyen",
        "TENURE_ADYEN_API_KEY": "adyen_test_key",
        "TENURE_ADYEN_MERCHANT_ACCOUNT": "TenureTestECOM",
        "TENURE_ADYEN_HMAC_KEY": HMAC_KEY,
    },
}
WEBHOOK_PATH = {
    "stripe": "/v1/providers/stripe/webhooks",
    "adyen": "/v1/providers/adyen/notifications",
}


def _spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture(params=["stripe", "adyen"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(provider, Tenure's base URL, the fake's base URL)."""
    kind = request.param
    tenure_port, fake_port = free_port(), free_port()
    base, fake = f"http://127.0.0.1:{tenure_port}", f"http://127.0.0.1:{fake_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")} | ENV[kind]
    fake_process = _spawn(
        [sys.executable, "-m", "tenure.payments.fakes", kind, "--port", str(fake_port),
         "--webhook-url", base + WEBHOOK_PATH[kind]],
        env, tmp_path / "fake.log", tmp_path,
    )  # fmt: skip
    api_base = fake if kind == "stripe" else f"{fake}/v71"
    env |= {
        "TENURE_STRIPE_API_BASE" if kind == "stripe" else "TENURE_ADYEN_CHECKOUT_URL": api_base,
        "TENURE_API_KEY": KEY,
        "TENURE_EMBEDDED_WORKER": "true",
        "TENURE_WEBHOOKS_ALLOW_PRIVATE": "true",
        "TENURE_LOG_FORMAT": "json",
    }
    server = _spawn(
        [str(Path(sys.executable).with_name("tenure")), "serve", "--host", "127.0.0.1",
         "--port", str(tenure_port), "--database-url", f"sqlite:///{tmp_path / 'tenure.db'}"],
        env, tmp_path / "server.log", tmp_path,
    )  # fmt: skip
    try:
        wait_until(lambda: answers(f"{fake}/_fake/ledger"), "fake provider", 30)
        wait_until(lambda: answers(f"{base}/healthz") or server.poll() is not None, "server", 90)
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        yield kind, base, fake
    finally:
        stop(server)
        stop(fake_process)


def _get(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_walkthrough_runs_on_the_provider_and_a_dispute_follows_the_policy(
    world: tuple[str, str, str],
) -> None:
    kind, base, fake = world
    walkthrough = fenced(
        section(README.read_text(), "Walkthrough: a year of renewals in one call"), "sh"
    )
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + walkthrough.replace("http://127.0.0.1:8000", base)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as client:
        _check(kind, fake, client)


def _check(kind: str, fake: str, client: httpx.Client) -> None:
    [customer] = _get(client, "/v1/customers?external_id=user-42")["data"]
    invoices = _get(client, f"/v1/invoices?customer={customer['id']}&limit=100")["data"]
    assert len(invoices) == 13 and {i["status"] for i in invoices} == {"paid"}, invoices

    # Every invoice was charged through the adapter once, with its attempt's idempotency key.
    ledger = httpx.get(f"{fake}/_fake/ledger", timeout=10).json()
    charge_path = "/v1/payment_intents" if kind == "stripe" else "/v71/payments"
    sent_keys = [key for method, path, key in ledger["requests"] if path == charge_path]
    if kind == "stripe":
        charged = [c["key"] for c in ledger["charges"] if c["status"] == "succeeded"]
    else:
        charged = [p["reference"] for p in ledger["payments"] if p["resultCode"] == "Authorised"]
    keys = []
    for invoice in invoices:
        [attempt] = _get(client, f"/v1/invoices/{invoice['id']}/payments")["data"]
        assert attempt["status"] == "succeeded"
        keys.append(attempt["idempotency_key"])
    assert sorted(keys) == sorted(sent_keys) == sorted(charged)
    assert all(key.endswith(":attempt:1") for key in keys)

    # A new subscriber; their bank disputes the first payment and the dispute is lost.
    clock = client.post("/v1/test_clocks", json={"frozen_time": "2025-03-01T10:00:00Z"}).json()
    buyer = client.post(
        "/v1/customers",
        json={"external_id": "user-77", "email": "b@example.com", "market": "SE",
              "test_clock": clock["id"]},
    ).json()  # fmt: skip
    sub = client.post(
        "/v1/subscriptions",
        json={"customer": buyer["id"], "plan": "premium_individual_monthly",
              "payment_method": "pm_card_visa"},
    ).json()  # fmt: skip
    assert sub["status"] == "active", sub
    invoice_id = sub["latest_invoice"]
    [attempt] = _get(client, f"/v1/invoices/{invoice_id}/payments")["data"]
    ledger = httpx.get(f"{fake}/_fake/ledger", timeout=10).json()
    if kind == "stripe":
        payment = next(
            c["payment_intent"] for c in ledger["charges"] if c["key"] == attempt["idempotency_key"]
        )
        dispute = {"id": "dp_walkthrough", "payment_intent": payment, "amount": 12900,
                   "currency": "sek", "reason": "fraudulent"}  # fmt: skip
        sends = [
            ("/_fake/events", {"type": "charge.dispute.created",
                               "object": {**dispute, "status": "needs_response"}}),
            ("/_fake/events", {"type": "charge.dispute.closed",
                               "object": {**dispute, "status": "lost"}}),
        ]  # fmt: skip
    else:
        payment = next(
            p["pspReference"] for p in ledger["payments"]
            if p["reference"] == attempt["idempotency_key"]
        )  # fmt: skip
        amount = {"value": 12900, "currency": "SEK"}
        sends = [
            ("/_fake/notifications", {"eventCode": code, "originalReference": payment,
                                      "amount": amount})
            for code in ("NOTIFICATION_OF_CHARGEBACK", "DISPUTE_DEFENSE_PERIOD_ENDED")
        ]  # fmt: skip
    for path, body in sends:
        sent = httpx.post(f"{fake}{path}", json=body, timeout=30).json()
        assert sent["delivered_status"] == 200, sent  # signed by the fake, verified by Tenure

    shown = _get(client, f"/v1/invoices/{invoice_id}")
    assert [(d["status"], d["amount"]) for d in shown["disputes"]] == [("lost", 12900)]
    ended = _get(client, f"/v1/subscriptions/{sub['id']}")
    assert (ended["status"], ended["ended_reason"]) == ("canceled", "dispute_lost")
    assert _get(client, f"/v1/customers/{buyer['id']}/entitlements")["product"] == "free"
    types = [
        e["type"] for e in _get(client, f"/v1/events?subscription={sub['id']}&limit=100")["data"]
    ]
    assert [t for t in types if t.startswith("dispute.")] == ["dispute.opened", "dispute.lost"]
    lost = next(
        e for e in _get(client, f"/v1/events?subscription={sub['id']}&limit=100")["data"]
        if e["type"] == "dispute.lost"
    )  # fmt: skip
    assert lost["data"]["policy_applied"] == "cancel_now"
