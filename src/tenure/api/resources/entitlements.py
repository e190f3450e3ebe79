"""Entitlements (single and batch) and support grants.

The entitlement body is rendered once per change by ``entitlements.read.render`` (a dict,
encoded to bytes and cached) and served as those bytes by both the fast path and the route;
:class:`Entitlements` is its schema, and a test holds the two to the same fields, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from tenure.api.resources.base import Resource, at, ts
from tenure.catalog.model import FeatureValue
from tenure.entitlements.read import View


class Entitlements(Resource):
    object: Literal["entitlements"]
    customer: str
    external_id: str
    product: str
    status: str  # the subscription's status, or "free"
    source: str  # subscription | household | grant | free
    subscription: str | None
    household: str | None
    grant: str | None
    features: list[str]  # the features that are not false, sorted
    feature_values: dict[str, FeatureValue]
    valid_until: str | None
    billing_issue: bool
    version: int


class EntitlementBatchResult(Resource):
    object: Literal["list"]
    data: list[Entitlements]
    missing: list[str]  # requested ids with no customer
    max_age: int  # seconds the answers may be cached


class Grant(Resource):
    id: str
    object: Literal["grant"]
    customer: str
    product: str
    reason: str
    status: str  # active | ended | revoked
    starts_at: str
    ends_at: str
    closed_at: str | None
    actor: str
    created: str


class GrantList(Resource):
    object: Literal["list"]
    data: list[Grant]
    has_more: bool
    next: str | None


def entitlements_of(view: View) -> Entitlements:
    return msgspec.convert(view.body, Entitlements)


def batch_of(views: Sequence[View], missing: list[str], max_age: int) -> EntitlementBatchResult:
    return EntitlementBatchResult(
        object="list",
        data=[entitlements_of(view) for view in views],
        missing=missing,
        max_age=max_age,
    )


def grant_of(row: Mapping[str, Any]) -> Grant:
    return Grant(
        id=row["id"],
        object="grant",
        customer=row["customer_id"],
        product=row["product_id"],
        reason=row["reason"],
        status=row["status"],
        starts_at=at(row["starts_at"]),
        ends_at=at(row["ends_at"]),
        closed_at=ts(row["closed_at"]),
        actor=row["actor"],
        created=at(row["created_at"]),
    )


def grant_list_of(rows: Sequence[Mapping[str, Any]]) -> GrantList:
    return GrantList(object="list", data=[grant_of(row) for row in rows], has_more=False, next=None)
