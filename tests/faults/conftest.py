from __future__ import annotations

from tests.support.stores import chain, fakes  # noqa: F401 - fixtures
