"""Every log line of the test run, kept and checked: no API key, card number or request body.

A pytest plugin (``tests/conftest.py`` loads it). Each process (xdist controller and workers)
sends the log pipeline's output to ``<dir>/<worker>.jsonl`` as well as the usual stderr; tests
that run Tenure as a subprocess add what it printed with :func:`keep`. When the session ends,
the controller scans every line and fails the run on a finding, printing where it was.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final, TextIO

import pytest

from tenure.observability import logs
from tenure.observability.redact import has_card_number
from tests.support.api import API_KEY

KEY: Final = "tenure_log_dir"
# Secrets the suite uses, and the shapes of the ones it generates.
LITERAL_SECRETS: Final = (API_KEY, "tenure_dev_key", "sk_live_", "sk_test_")
_SECRET_SHAPES: Final = re.compile(
    r"\bsk_[A-Za-z0-9_\-]{20,}|\bwhsec_[A-Za-z0-9+/=]{16,}|(?i:\bbearer\s+(?!\[redacted\])\S+)"
)
# Request bodies: the suite's customers all have @example.com addresses, and a body is JSON.
_BODY_SHAPES: Final = re.compile(r'@example\.com|\{\s*"[A-Za-z_]+"\s*:')
_state: dict[str, Any] = {}


def log_dir() -> Path | None:
    found = _state.get("dir")
    return None if found is None else Path(found)


def keep(text: str, label: str = "subprocess") -> None:
    """Add output a subprocess printed (its logs) to what the session scans."""
    directory = log_dir()
    if directory is None or not text:
        return
    (directory / f"{label}-{uuid.uuid4().hex[:8]}.log").write_text(text)


class _Tee(io.TextIOBase):
    def __init__(self, file: TextIO) -> None:
        self.file = file

    def write(self, text: str) -> int:
        self.file.write(text)
        self.file.flush()
        sys.stderr.write(text)
        return len(text)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def findings(line: str) -> list[str]:
    """What is wrong with one log line (empty: nothing)."""
    try:
        record = json.loads(line)
        texts = list(_strings(record))
    except ValueError:
        texts = [line]
    found = []
    for text in texts:
        for secret in LITERAL_SECRETS:
            if secret in text:
                found.append(f"API key {secret!r}")
        if _SECRET_SHAPES.search(text):
            found.append("secret or bearer token")
        if has_card_number(text):
            found.append("card number")
        if _BODY_SHAPES.search(text):
            found.append("request body")
        if "Traceback (most recent call last)" in text:
            found.append("multi-line traceback")
    return found


def scan(paths: Iterable[Path]) -> tuple[int, list[str]]:
    lines, report = 0, []
    for path in sorted(paths):
        # Split on newlines only: str.splitlines() also splits inside a JSON string at U+0085
        # or U+2028, which a logged path may hold (and JSON need not escape).
        for number, line in enumerate(path.read_text(errors="replace").split("\n"), 1):
            if not line.strip():
                continue
            lines += 1
            for problem in findings(line):
                report.append(f"{path.name}:{number}: {problem}: {line[:300]}")
    return lines, report


def pytest_configure(config: pytest.Config) -> None:
    worker = getattr(config, "workerinput", None)
    directory = worker[KEY] if worker is not None else tempfile.mkdtemp(prefix="tenure-logs-")
    _state["dir"] = directory
    name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    file = open(Path(directory) / f"{name}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    _state["file"] = file
    logs.configure(fmt="json", level="info", stream=_Tee(file), force=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # xdist: tell each worker where to write
    node.workerinput[KEY] = _state["dir"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return
    directory = log_dir()
    if directory is None:
        return
    file = _state.get("file")
    if file is not None:
        file.flush()
    lines, report = scan([*directory.glob("*.jsonl"), *directory.glob("*.log")])
    writer = session.config.pluginmanager.get_plugin("terminalreporter")
    if report:
        writer.write_line(f"log scan: {len(report)} finding(s) in {lines} log lines:", red=True)
        for entry in report[:50]:
            writer.write_line(f"  {entry}")
        writer.write_line(f"  (all lines kept in {directory})")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        writer.write_line(f"log scan: {lines} log lines, no API key, card number or body")
