"""The JSON depth limit (api/limits.py): exact at the boundary, blind to brackets in strings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenure.api.limits import too_deep


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [0, 1, 31, 32])
def test_at_or_under_the_limit_passes(depth: int) -> None:
    assert not too_deep(nested(depth), 32)


@pytest.mark.parametrize("depth", [33, 1000, 200_000])
def test_over_the_limit_is_refused(depth: int) -> None:
    assert too_deep(nested(depth), 32)


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"a": "[" * 100 + "{" * 100, "b": ['\\"[[[[', "]]"]}).encode()
    assert not too_deep(body, 3)


def test_mixed_objects_and_arrays() -> None:
    body = json.dumps({"a": [{"b": [{"c": [1, 2, {"d": []}]}]}]}).encode()
    assert not too_deep(body, 8)
    assert too_deep(body, 7)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet="[]{}ab", max_size=3), children, max_size=3)
    ),
    max_leaves=30,
)


def depth_of(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@given(json_values, st.integers(min_value=1, max_value=8))
def test_agrees_with_the_real_depth(value: object, limit: int) -> None:
    assert too_deep(json.dumps(value).encode(), limit) == (depth_of(value) > limit)
