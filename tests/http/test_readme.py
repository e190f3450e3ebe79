"""The README's shell snippets, run as written against a real ``tenure serve``.

The walkthrough, the webhook receiver and registration, and the entitlements and households
block are taken from README.md, pointed at free ports, and run with bash in one shell, as a
reader pastes them; the server is Granian with a fresh SQLite file and the embedded worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = "tenure_dev_key"
RECEIVER = "127.0.0.1:9000"


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def fenced(text: str, language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", text, re.DOTALL)
    assert found, f"no ```{language} block"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(ready: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not ready after {timeout:.0f} s")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the process group this test started (Granian forks its workers into it)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    env |= {
        "TENURE_API_KEY": KEY,
        "TENURE_EMBEDDED_WORKER": "true",
        "TENURE_WEBHOOKS_ALLOW_PRIVATE": "true",  # as `make run` sets it
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("tenure")),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{tmp_path / 'tenure.db'}",
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Migrations, then Granian's worker starting the app: slow on a busy machine.
        wait_until(lambda: answers(f"{base}/healthz") or process.poll() is not None, "server", 90)
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        yield base
    finally:
        stop(process)
        log.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    code = fenced(section(README.read_text(), "Webhooks and NATS"), "python")
    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(code.replace(RECEIVER, f"127.0.0.1:{port}").replace("9000", str(port)))
    printed = tmp_path / "received.txt"
    with printed.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(script)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: accepts(port), "receiver")
        yield f"127.0.0.1:{port}", printed
    finally:
        stop(process)


def json_lines(output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_readme_snippets_run_against_a_live_server(server: str, receiver: tuple[str, Path]) -> None:
    text = README.read_text()
    walkthrough = fenced(section(text, "Walkthrough: a year of renewals in one call"), "sh")
    webhooks = fenced(section(text, "Webhooks and NATS"), "sh")
    households = fenced(section(text, "Entitlements, grants and households"), "sh")
    assert "export TENURE=http://127.0.0.1:8000" in walkthrough
    assert RECEIVER in webhooks
    address, printed = receiver
    script = "\n".join(
        [
            "set -euo pipefail",  # an undefined variable or a failed step stops the run
            walkthrough.replace("http://127.0.0.1:8000", server),
            webhooks.replace(RECEIVER, address),
            households,
        ]
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    output = done.stdout
    bodies = json_lines(output)

    # Thirteen monthly invoices of 129.00 SEK including 25.80 VAT, on the anchor's days.
    invoices = re.findall(r"^(\d{4}-\d{2}-\d{2}) (\w+) (\d+) (\w+) tax (\d+)$", output, re.M)
    assert len(invoices) == 13, output
    assert {i[1:] for i in invoices} == {("paid", "12900", "SEK", "2580")}
    assert [i[0] for i in invoices][:4] == ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"]

    # Events numbered per subscription from 1.
    events = re.findall(r"^(\d+) (\d{4}-\S+Z) ([a-z_.]+)$", output, re.M)
    assert [int(e[0]) for e in events] == list(range(1, len(events) + 1))
    assert [e[2] for e in events].count("subscription.renewed") == 12

    subscriptions = [b for b in bodies if b.get("object") == "subscription"]
    assert subscriptions[0]["status"] == "active"
    assert subscriptions[-2]["cancel_at_period_end"] is True
    assert subscriptions[-1]["status"] == "expired"
    assert subscriptions[-1]["ended_at"] == "2026-02-28T10:00:00Z"

    user_42 = [
        b for b in bodies if b.get("object") == "entitlements" and b["external_id"] == "user-42"
    ]
    assert user_42[0]["product"] == "premium_individual"
    assert user_42[1]["product"] == "free" and user_42[1]["source"] == "free"
    history = [
        b for b in bodies if b.get("object") == "list" and b["data"] and "to" in b["data"][0]
    ]
    assert history[-1]["data"][-1]["to"] == "expired"

    # The webhook endpoint was registered and shown its secret once; deliveries are listed.
    endpoint = next(b for b in bodies if b.get("object") == "webhook_endpoint")
    assert endpoint["secret"].startswith("whsec_")
    assert any(
        b.get("object") == "list" and b["data"] and b["data"][0].get("object") == "webhook_delivery"
        for b in bodies
    ), output

    # Grants and households: the partner is entitled through the manager's Duo.
    partner = next(
        b for b in bodies if b.get("object") == "entitlements" and b["external_id"] == "user-45"
    )
    assert (partner["source"], partner["product"]) == ("household", "premium_duo")
    household = next(b for b in bodies if b.get("object") == "household")
    assert household["seats_used"] == 2
    assert "ETag:" in output or "etag:" in output

    # The receiver printed the deliveries it got, signed with a webhook-id.
    def delivered() -> bool:
        return '"customer.created"' in printed.read_text() and "user-43" in printed.read_text()

    wait_until(delivered, "a delivery to the README's receiver", timeout=15)
    first = printed.read_text().splitlines()[0]
    webhook_id, _, body = first.partition(" ")
    assert webhook_id.startswith("evt_") or webhook_id.startswith("msg_"), first
    assert json.loads(body)["type"]
