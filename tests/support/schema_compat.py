"""Is a new event schema compatible with the published one? And the snapshot writer.

Compatible means a consumer written against the old schema still works: every old field is
still there with the same type, no field that was always present became optional or
nullable. New fields and new event types are fine. Run
``.venv/bin/python -m tests.support.schema_compat --write`` to refresh the snapshot after a
compatible change or a version bump.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tenure.events import catalog

SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "event_schemas.json"
_ANNOTATIONS = frozenset({"title", "description", "examples", "$schema"})


def current() -> dict[str, Any]:
    """Every event type at its current version, keyed ``type@version``."""
    return {f"{spec.name}@{spec.version}": catalog.json_schema(spec) for spec in catalog.CATALOG}


def inline(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """Resolve ``$ref``s and drop annotations, so two schemas compare by meaning."""
    if defs is None and isinstance(schema, dict):
        defs = schema.get("$defs", {})
    if isinstance(schema, dict):
        if "$ref" in schema:
            return inline(defs[schema["$ref"].rsplit("/", 1)[-1]] if defs else {}, defs)
        return {
            key: inline(value, defs)
            for key, value in schema.items()
            if key not in _ANNOTATIONS and key != "$defs"
        }
    if isinstance(schema, list):
        return [inline(item, defs) for item in schema]
    return schema


def breaking_changes(old: Any, new: Any, path: str = "$") -> list[str]:
    """What a consumer of ``old`` would trip over in ``new`` (both already inlined)."""
    if isinstance(old, dict) and isinstance(new, dict) and "properties" in old:
        if "properties" not in new:
            return [f"{path}: is no longer an object"]
        problems: list[str] = []
        for name, field in old["properties"].items():
            if name not in new["properties"]:
                problems.append(f"{path}.{name}: removed (or renamed)")
            else:
                problems += breaking_changes(field, new["properties"][name], f"{path}.{name}")
        for name in sorted(set(old.get("required", ())) - set(new.get("required", ()))):
            problems.append(f"{path}.{name}: was always present, now optional")
        return problems
    if isinstance(old, dict) and isinstance(new, dict) and "anyOf" in old and "anyOf" in new:
        if len(old["anyOf"]) != len(new["anyOf"]):
            return [f"{path}: alternatives changed"]
        return [
            problem
            for index, (a, b) in enumerate(zip(old["anyOf"], new["anyOf"], strict=True))
            for problem in breaking_changes(a, b, f"{path}|{index}")
        ]
    if isinstance(old, dict) and isinstance(new, dict) and "items" in old and "items" in new:
        rest_old = {k: v for k, v in old.items() if k != "items"}
        rest_new = {k: v for k, v in new.items() if k != "items"}
        if rest_old != rest_new:
            return [f"{path}: changed from {rest_old} to {rest_new}"]
        return breaking_changes(old["items"], new["items"], f"{path}[]")
    if old != new:
        return [f"{path}: changed from {json.dumps(old)} to {json.dumps(new)}"]
    return []


def load_snapshot() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SNAPSHOT.read_text())
    return loaded


def write_snapshot() -> None:
    """Keep old versions (they are still what old consumers read) and add the current ones."""
    merged = {**(load_snapshot() if SNAPSHOT.exists() else {}), **current()}
    SNAPSHOT.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.support.schema_compat --write")
    write_snapshot()
