"""The deployment kit is checked, not just kept: alert rules (promtool), runbooks, the Grafana
dashboard, the Containerfile (hadolint), the Kubernetes manifests (their schemas), the lock
files and the licence."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tenure.observability import metrics  # noqa: F401 - registers every metric
from tenure.ops.gauges import BusinessGauges

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RUNBOOKS = ROOT / "docs" / "runbooks"
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() == "true"
SLOS = {
    "entitlement-read-availability",
    "entitlement-read-latency",
    "renewal-lag",
    "outbox-lag",
    "webhook-delivery",
}


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI=true (.ci/install-tools installs it)")
        pytest.skip(f"{name} not installed (`make tools` installs promtool)")
    return found


def _run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return done


def _alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _exported() -> set[str]:
    """Every sample name Tenure's processes can export."""
    from prometheus_client import REGISTRY

    names: set[str] = set()
    families = [*REGISTRY.collect(), *BusinessGauges(kinds=["webhook"]).collect()]
    for family in families:
        base = family.name
        names.add(base)
        if family.type == "counter":
            names.update({f"{base}_total", f"{base}_created"})
        if family.type == "histogram":
            names.update({f"{base}_bucket", f"{base}_count", f"{base}_sum", f"{base}_created"})
    return names


def _recorded() -> set[str]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def _queried(text: str) -> set[str]:
    return set(re.findall(r"\btenure(?:_[a-z0-9]+)+\b|\btenure:[a-z0-9_:]+", text))


# --- Prometheus -------------------------------------------------------------------------------


def test_alert_rules_are_valid_and_their_unit_tests_pass() -> None:
    promtool = _tool("promtool")
    _run(promtool, "check", "rules", "alerts.yml", cwd=DEPLOY / "prometheus")
    _run(promtool, "test", "rules", "alerts_test.yml", cwd=DEPLOY / "prometheus")


def test_every_alert_links_a_runbook_and_every_slo_has_an_alert() -> None:
    alerts = _alerts()
    linked = set()
    for alert in alerts:
        annotations = alert["annotations"]
        labels = alert["labels"]
        assert isinstance(annotations, dict) and isinstance(labels, dict)
        assert labels["severity"] in {"page", "ticket"}, alert["alert"]
        runbook = ROOT / str(annotations["runbook_url"])
        assert runbook.is_file(), f"{alert['alert']}: no {runbook}"
        text = runbook.read_text()
        for section in ("## What it means", "## Confirm", "## Mitigate"):
            assert section in text, f"{runbook.name} lacks {section!r}"
        linked.add(runbook.name)
    assert {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"} == linked
    covered = {alert["labels"].get("slo") for alert in alerts}  # type: ignore[union-attr]
    assert covered >= SLOS
    slo_doc = (ROOT / "docs" / "slo.md").read_text()
    for slo in SLOS:
        assert f"`{slo}`" in slo_doc


def test_alerts_query_only_metrics_tenure_exports() -> None:
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    unknown = _queried(text) - _exported() - _recorded()
    assert not unknown


# --- Grafana ----------------------------------------------------------------------------------


def _dashboard_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dashboard", DEPLOY / "grafana" / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dashboard_is_what_its_generator_writes_and_queries_real_metrics() -> None:
    dashboard = _dashboard_module()
    committed = (DEPLOY / "grafana" / "tenure.json").read_text()
    assert dashboard.render() == committed, "run: .venv/bin/python deploy/grafana/dashboard.py"
    unknown = _queried(committed) - _exported() - _recorded()
    assert not unknown


# --- Container image and Kubernetes -----------------------------------------------------------


def test_the_containerfile_lints_clean() -> None:
    hadolint = _tool("hadolint")
    _run(hadolint, "--failure-threshold", "info", "Containerfile")
    text = (ROOT / "Containerfile").read_text()
    assert "requirements/runtime.lock" in text and "--require-hashes" in text
    assert re.search(r"^USER 10001", text, re.M) and "HEALTHCHECK" in text
    assert text.count("FROM ") >= 2  # multi-stage


def test_the_manifests_validate_against_the_kubernetes_schemas() -> None:
    validate = _tool("kubernetes-validate")
    manifests = sorted(
        p for p in (DEPLOY / "kubernetes").glob("*.yaml") if p.name != "kustomization.yaml"
    )
    _run(validate, "--strict", "--quiet", "-k", "1.30.0", *map(str, manifests))
    kinds: dict[str, list[dict[str, object]]] = {}
    for path in manifests:
        for document in yaml.safe_load_all(path.read_text()):
            kinds.setdefault(str(document["kind"]), []).append(document)
    assert {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Job",
    } <= set(kinds)
    names = {d["metadata"]["name"] for d in kinds["Deployment"]}  # type: ignore[index]
    assert names == {"tenure-api", "tenure-worker", "tenure-relay"}
    [api] = [d for d in kinds["Deployment"] if d["metadata"]["name"] == "tenure-api"]  # type: ignore[index]
    container = api["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert set(listed["resources"]) == {p.name for p in manifests} - {"secret.example.yaml"}


# --- Lock files and licence -------------------------------------------------------------------


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", line)
        if found:
            pins[canonicalize_name(found.group(1))] = found.group(2)
    return pins


def _closure(requirements: list[str], extras: set[str]) -> set[str]:
    """Every distribution these requirements pull in, on this interpreter."""
    seen: set[str] = set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        environment = {"extra": ""}
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": e}) for e in (extras or {""})
        ):
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        wanted = set(requirement.extras)
        for child in metadata.requires(name) or []:
            parsed = Requirement(child)
            if parsed.marker is None or any(
                parsed.marker.evaluate({**environment, "extra": e}) for e in (wanted or {""})
            ):
                pending.append(parsed)
    return seen


def test_the_lock_files_pin_everything_installed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _pins(ROOT / "requirements" / "runtime.lock")
    dev = _pins(ROOT / "requirements" / "dev.lock")
    needed = _closure(project["dependencies"], set())
    assert needed - set(runtime) == set(), "run `make lock`"
    assert needed - {"tenure"} <= set(dev)
    for name in needed:
        assert metadata.version(name) == runtime[name], f"{name}: installed != locked"
    for requirement in project["optional-dependencies"]["dev"]:
        assert canonicalize_name(Requirement(requirement).name) in dev
    for name, version in runtime.items():
        assert dev.get(name) == version, f"{name}: the dev lock disagrees with the runtime lock"


def test_the_licence_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
