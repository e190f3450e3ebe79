"""Who may do what: scopes, and the roles that bundle them.

A key carries either a role (``viewer``, ``support``, ``finance``, ``admin``: a person acting
through the API or a console) or an explicit list of scopes (a service: "this backend reads
entitlements"). The ``admin`` scope implies every other. Which scope each route needs is one
table, ``tenure.api.authz.ROUTE_SCOPES``, rendered in docs/security.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from tenure.kernel.errors import InvalidRequest

ADMIN: Final = "admin"

SCOPES: Final[dict[str, str]] = {
    "customers:read": "customers, their payment methods, grants and households",
    "customers:write": "create and update customers, payment methods and households",
    "customers:export": "export everything held about a customer",
    "customers:erase": "erase a customer's personal data",
    "subscriptions:read": "subscriptions, their history and plan-change previews",
    "subscriptions:write": "subscribe, cancel, reactivate, change plans, apply promo codes",
    "entitlements:read": "entitlement reads (by customer, external id, batch)",
    "entitlements:grant": "grant and revoke products outside a subscription",
    "invoices:read": "invoices, credit notes and payment attempts",
    "invoices:write": "pay or void an invoice, change its metadata",
    "invoices:refund": "refund an invoice",
    "catalog:read": "plans, promo codes and event types",
    "catalog:write": "create promo codes",
    "events:read": "the event log",
    "webhooks:manage": "webhook endpoints, deliveries, replays and secrets",
    "stores:manage": "App Store / Google Play reconciliation and the notification inbox",
    "test_clocks:write": "test clocks (simulated time)",
    "audit:read": "the audit log",
    ADMIN: "everything, including API keys",
}

_VIEWER: Final = frozenset(
    {
        "customers:read",
        "subscriptions:read",
        "entitlements:read",
        "invoices:read",
        "catalog:read",
        "events:read",
    }
)

# People acting through the API or a console; their money and access actions need a reason.
ROLES: Final[dict[str, frozenset[str]]] = {
    "viewer": _VIEWER,
    "support": _VIEWER
    | {
        "customers:write",
        "customers:export",
        "subscriptions:write",
        "entitlements:grant",
        "invoices:refund",
        "audit:read",
    },
    "finance": _VIEWER | {"invoices:write", "invoices:refund", "audit:read"},
    "admin": frozenset({ADMIN}),
}


def granted(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope a holder of ``scopes`` has (``admin`` implies all)."""
    held = frozenset(scopes)
    return frozenset(SCOPES) if ADMIN in held else held


def allows(held: frozenset[str], needed: str) -> bool:
    return needed in held or ADMIN in held


def scopes_of(role: str | None, scopes: Iterable[str]) -> frozenset[str]:
    """The scopes of a key: its role's, or its explicit list."""
    if role is not None:
        return ROLES[role]
    return frozenset(scopes)


def check_grant(role: str | None, scopes: Iterable[str] | None) -> tuple[str | None, list[str]]:
    """A role *or* a non-empty list of known scopes, normalized; anything else is refused."""
    listed = sorted(set(scopes or ()))
    if role is not None and listed:
        raise InvalidRequest("give either a role or scopes, not both", code="invalid_key_grant")
    if role is not None:
        if role not in ROLES:
            raise InvalidRequest(
                f"role must be one of {', '.join(ROLES)}, not {role!r}", code="unknown_role"
            )
        return role, []
    if not listed:
        raise InvalidRequest(
            "a key needs a role (viewer, support, finance, admin) or at least one scope",
            code="invalid_key_grant",
        )
    unknown = [scope for scope in listed if scope not in SCOPES]
    if unknown:
        raise InvalidRequest(
            f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}", code="unknown_scope"
        )
    return None, listed
