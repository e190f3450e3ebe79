"""Shared pieces of response bodies: the base struct, money, timestamps, metadata."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from tenure.kernel.clock import rfc3339


class Resource(msgspec.Struct, kw_only=True):
    """Base of every response body. Every field is always present (``null`` when the type says
    it may be), in the order the struct declares it."""


R = TypeVar("R", bound=Resource)


class Money(Resource):
    """An amount in integer minor units of ``currency`` (12900 SEK is 129.00 SEK)."""

    amount: int
    currency: str


def ts(value: datetime | None) -> str | None:
    """RFC 3339 UTC with a ``Z``, or ``None``."""
    return None if value is None else rfc3339(value)


def at(value: datetime) -> str:
    return rfc3339(value)


def metadata_of(source: object) -> dict[str, str]:
    """The ``metadata`` of a customer, subscription or invoice: a mapping of strings.

    Read from a ``metadata`` key (rows as dicts) or a ``metadata`` / ``metadata_`` attribute
    (``metadata`` itself is taken by SQLAlchemy's declarative base, so an ORM column is usually
    ``metadata_``); anything that is not a mapping of strings (such as SQLAlchemy's ``MetaData``)
    counts as none, so until the column exists every object answers ``{}``.
    """
    if isinstance(source, Mapping):
        found: Any = source.get("metadata")
    else:
        found = getattr(source, "metadata_", None)
        if found is None:
            found = getattr(source, "metadata", None)
    if not isinstance(found, Mapping):
        return {}
    return {str(key): str(value) for key, value in found.items()}


def extend(base: Resource, kind: type[R], **extra: Any) -> R:
    """``base`` as the subclass ``kind`` that adds the fields in ``extra`` (a detail view)."""
    return kind(**msgspec.structs.asdict(base), **extra)
