"""The API worker's collector tuning: thresholds set and start-up frozen, once per process."""

from __future__ import annotations

import gc

import pytest

from tenure.api import memory
from tenure.read_settings import ReadSettings


def test_tune_sets_thresholds_and_freezes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    saved = gc.get_threshold()
    monkeypatch.setattr(memory, "_tuned", [])
    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    try:
        memory.tune(ReadSettings(gc_threshold=(12_345, 6, 7)))
        assert gc.get_threshold() == (12_345, 6, 7) and frozen == [True]
        memory.tune(ReadSettings(gc_threshold=(700, 10, 10), gc_freeze=True))
        assert gc.get_threshold() == (12_345, 6, 7) and frozen == [True]  # once per process
        monkeypatch.setattr(memory, "_tuned", [])
        memory.tune(ReadSettings(gc_threshold=(800, 10, 10), gc_freeze=False))
        assert gc.get_threshold() == (800, 10, 10) and frozen == [True]
    finally:
        gc.set_threshold(*saved)
