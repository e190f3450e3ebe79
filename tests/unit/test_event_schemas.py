"""The published event schemas never change incompatibly, and every payload matches its type."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from tenure.events import catalog
from tenure.events.record import event_row
from tests.support import schema_compat as compat

REFRESH = "refresh it with: .venv/bin/python -m tests.support.schema_compat --write"


def test_no_published_schema_changed_incompatibly() -> None:
    published = compat.load_snapshot()
    now = {spec.name: spec for spec in catalog.CATALOG}
    problems: list[str] = []
    for key, old in published.items():
        name, version = key.rsplit("@", 1)
        spec = now.get(name)
        if spec is None:
            problems.append(f"{name}: the event type was removed")
        elif spec.version < int(version):
            problems.append(f"{name}: version went down from {version} to {spec.version}")
        elif spec.version == int(version):
            new = compat.inline(catalog.json_schema(spec))
            problems += [f"{key} {p}" for p in compat.breaking_changes(compat.inline(old), new)]
    assert problems == [], (
        "incompatible schema changes; bump the type's version in tenure.events.catalog "
        f"(and {REFRESH}):\n" + "\n".join(problems)
    )


def test_the_snapshot_holds_every_current_schema() -> None:
    published = compat.load_snapshot()
    stale = [key for key, schema in compat.current().items() if published.get(key) != schema]
    assert stale == [], f"the schema snapshot is out of date for {stale}; {REFRESH}"


def _renewed() -> dict[str, Any]:
    return compat.inline(catalog.json_schema(catalog.BY_TYPE["subscription.renewed"]))


def test_adding_a_field_is_compatible() -> None:
    new = _renewed()
    new["properties"]["data"]["properties"]["coupon"] = {"type": "string"}
    assert compat.breaking_changes(_renewed(), new) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["properties"].pop("plan"), "$.data.plan: removed"),
        (lambda d: d["properties"].__setitem__("plan_id", d["properties"].pop("plan")), "plan"),
        (lambda d: d["properties"]["cancel_at_period_end"].update(type="string"), "changed"),
        (
            lambda d: d["properties"].__setitem__(
                "status", {"anyOf": [{"type": "string"}, {"type": "null"}]}
            ),
            "$.data.status: changed",
        ),
        (lambda d: d["required"].remove("market"), "$.data.market: was always present"),
        (
            lambda d: d["properties"]["price"]["properties"]["amount"].update(type="number"),
            "$.data.price.amount: changed",
        ),
    ],
    ids=["removed", "renamed", "retyped", "made-nullable", "made-optional", "nested-retyped"],
)
def test_breaking_changes_are_caught(change: Any, expected: str) -> None:
    new = copy.deepcopy(_renewed())
    change(new["properties"]["data"])
    problems = compat.breaking_changes(_renewed(), new)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("spec", catalog.CATALOG, ids=lambda spec: spec.name)
def test_every_example_is_a_valid_message_of_its_type(spec: catalog.EventType) -> None:
    message = catalog.example(spec)
    decoded = msgspec.convert(message, catalog.Envelope[spec.payload])  # type: ignore[name-defined]
    assert decoded.type == spec.name
    assert catalog.check(spec.name, message["data"]) == spec.version


def test_event_row_refuses_an_undeclared_field_or_an_unknown_type() -> None:
    data = msgspec.to_builtins(catalog.BY_TYPE["subscription.renewed"].example)
    row = event_row("subscription.renewed", created=_now(), data=data)
    assert row["schema_version"] == 1
    with pytest.raises(catalog.EventSchemaError, match="coupon"):
        event_row("subscription.renewed", created=_now(), data={**data, "coupon": "x"})
    with pytest.raises(catalog.EventSchemaError, match="not in the catalog"):
        event_row("subscription.teleported", created=_now(), data=data)
    with pytest.raises(catalog.EventSchemaError, match="price"):
        event_row("subscription.renewed", created=_now(), data={**data, "price": 12900})


def test_checking_a_payload_costs_microseconds() -> None:
    """The renewal batch checks three payloads per subscription; keep that negligible."""
    import time

    data = msgspec.to_builtins(catalog.BY_TYPE["subscription.renewed"].example)
    started = time.perf_counter()
    for _ in range(10_000):
        catalog.check("subscription.renewed", data)
    per_check = (time.perf_counter() - started) / 10_000
    assert per_check < 50e-6, f"{per_check * 1e6:.1f} µs per payload check"


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2025, 1, 31, 10, tzinfo=UTC)


def test_every_event_type_named_in_the_code_is_in_the_catalog() -> None:
    """A new event type without a catalog entry fails here, before any flow test runs."""
    import re
    from pathlib import Path

    import tenure

    literal = re.compile(r'"((?:customer|subscription|invoice|webhook_endpoint)\.[a-z_]+)"')
    root = Path(tenure.__file__).parent
    named = {
        match
        for path in root.rglob("*.py")
        if path.name != "catalog.py"
        for match in literal.findall(path.read_text())
    }
    assert "subscription.renewed" in named
    assert named - set(catalog.BY_TYPE) == set()


def test_docs_describe_every_event_type() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
    missing = [spec.name for spec in catalog.CATALOG if f"`{spec.name}`" not in docs]
    assert missing == [], f"docs/events.md does not describe {missing}"
