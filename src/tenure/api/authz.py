"""Which scope each route needs: one table, checked on every request by a guard.

docs/security.md renders this table (a test keeps the two equal, and walks every route of
/openapi.json with every role). A route missing from the table needs ``admin``: a new route
is closed until someone decides who may call it. ``PUBLIC`` routes authenticate otherwise
(provider and store signatures); ``END_USER`` routes take an end user's token, never a key.
"""

from __future__ import annotations

from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from tenure.access.keys import Principal
from tenure.access.scopes import ADMIN, allows
from tenure.kernel.errors import DomainError

PUBLIC: Final = "public"
END_USER: Final = "end-user token"

ROUTE_SCOPES: Final[dict[tuple[str, str], str]] = {
    # API keys and the audit log
    ("GET", "/v1/api_keys"): ADMIN,
    ("POST", "/v1/api_keys"): ADMIN,
    ("GET", "/v1/api_keys/{key_id}"): ADMIN,
    ("DELETE", "/v1/api_keys/{key_id}"): ADMIN,
    ("GET", "/v1/audit_log"): "audit:read",
    # Test clocks
    ("POST", "/v1/test_clocks"): "test_clocks:write",
    ("GET", "/v1/test_clocks/{clock_id}"): "test_clocks:write",
    ("POST", "/v1/test_clocks/{clock_id}/advance"): "test_clocks:write",
    # Customers
    ("GET", "/v1/customers"): "customers:read",
    ("POST", "/v1/customers"): "customers:write",
    ("GET", "/v1/customers/{customer_id}"): "customers:read",
    ("POST", "/v1/customers/{customer_id}"): "customers:write",
    ("GET", "/v1/customers/{customer_id}/export"): "customers:export",
    ("POST", "/v1/customers/{customer_id}/erase"): "customers:erase",
    ("GET", "/v1/customers/{customer_id}/payment_methods"): "customers:read",
    ("POST", "/v1/customers/{customer_id}/payment_methods"): "customers:write",
    ("DELETE", "/v1/customers/{customer_id}/payment_methods/{method_id}"): "customers:write",
    ("POST", "/v1/customers/{customer_id}/payment_methods/{method_id}/default"): (
        "customers:write"
    ),
    ("POST", "/v1/customers/{customer_id}/store_account_token"): "customers:write",
    # Entitlements and grants
    ("GET", "/v1/customers/{customer_id}/entitlements"): "entitlements:read",
    ("GET", "/v1/entitlements/{external_id}"): "entitlements:read",
    ("POST", "/v1/entitlements/batch"): "entitlements:read",
    ("GET", "/v1/customers/{customer_id}/grants"): "customers:read",
    ("POST", "/v1/customers/{customer_id}/grants"): "entitlements:grant",
    ("DELETE", "/v1/customers/{customer_id}/grants/{grant_id}"): "entitlements:grant",
    # Households
    ("GET", "/v1/households/{household_id}"): "customers:read",
    ("POST", "/v1/households/{household_id}/address"): "customers:write",
    ("POST", "/v1/households/{household_id}/invites"): "customers:write",
    ("POST", "/v1/households/{household_id}/leave"): "customers:write",
    ("DELETE", "/v1/households/{household_id}/members/{customer_id}"): "customers:write",
    ("POST", "/v1/invites/{code}/accept"): "customers:write",
    # Subscriptions
    ("GET", "/v1/subscriptions"): "subscriptions:read",
    ("POST", "/v1/subscriptions"): "subscriptions:write",
    ("GET", "/v1/subscriptions/{subscription_id}"): "subscriptions:read",
    ("POST", "/v1/subscriptions/{subscription_id}"): "subscriptions:write",
    ("GET", "/v1/subscriptions/{subscription_id}/history"): "subscriptions:read",
    ("POST", "/v1/subscriptions/{subscription_id}/change_preview"): "subscriptions:read",
    ("POST", "/v1/subscriptions/{subscription_id}/change"): "subscriptions:write",
    ("DELETE", "/v1/subscriptions/{subscription_id}/pending_change"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/cancel"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/reactivate"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/pause"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/resume"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/promo_code"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/end_trial"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/extend"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/items"): "subscriptions:write",
    ("DELETE", "/v1/subscriptions/{subscription_id}/items/{item_id}"): "subscriptions:write",
    ("GET", "/v1/subscriptions/{subscription_id}/retention_offers"): "subscriptions:read",
    ("POST", "/v1/subscriptions/{subscription_id}/retention_offers/{offer_id}/accept"): (
        "subscriptions:write"
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/retention_offers/{offer_id}/decline"): (
        "subscriptions:write"
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/price_change/accept"): "subscriptions:write",
    ("POST", "/v1/price_changes"): "catalog:write",
    # Invoices
    ("GET", "/v1/invoices"): "invoices:read",
    ("GET", "/v1/invoices/{invoice_id}"): "invoices:read",
    ("POST", "/v1/invoices/{invoice_id}"): "invoices:write",
    ("GET", "/v1/invoices/{invoice_id}/payments"): "invoices:read",
    ("POST", "/v1/invoices/{invoice_id}/pay"): "invoices:write",
    ("POST", "/v1/invoices/{invoice_id}/void"): "invoices:write",
    ("POST", "/v1/invoices/{invoice_id}/refund"): "invoices:refund",
    # Catalog and events
    ("GET", "/v1/plans"): "catalog:read",
    ("POST", "/v1/promo_codes"): "catalog:write",
    ("GET", "/v1/promo_codes/{code}"): "catalog:read",
    ("GET", "/v1/event_types"): "catalog:read",
    ("GET", "/v1/event_types/{event_type}"): "catalog:read",
    ("GET", "/v1/events"): "events:read",
    # Webhook endpoints
    ("GET", "/v1/webhook_endpoints"): "webhooks:manage",
    ("POST", "/v1/webhook_endpoints"): "webhooks:manage",
    ("GET", "/v1/webhook_endpoints/{endpoint_id}"): "webhooks:manage",
    ("PATCH", "/v1/webhook_endpoints/{endpoint_id}"): "webhooks:manage",
    ("DELETE", "/v1/webhook_endpoints/{endpoint_id}"): "webhooks:manage",
    ("GET", "/v1/webhook_endpoints/{endpoint_id}/deliveries"): "webhooks:manage",
    ("POST", "/v1/webhook_endpoints/{endpoint_id}/replay"): "webhooks:manage",
    ("POST", "/v1/webhook_endpoints/{endpoint_id}/rotate_secret"): "webhooks:manage",
    # Stores (operators); the notifications themselves are signed by the stores
    ("POST", "/v1/stores/app_store/reconcile"): "stores:manage",
    ("POST", "/v1/stores/google_play/reconcile"): "stores:manage",
    ("GET", "/v1/stores/notifications"): "stores:manage",
    ("POST", "/v1/stores/notifications/{notification_id}/replay"): "stores:manage",
    # Signed by the provider or store, verified by the route (never an API key)
    ("POST", "/v1/providers/stripe/webhooks"): PUBLIC,
    ("POST", "/v1/providers/adyen/notifications"): PUBLIC,
    ("POST", "/v1/stores/app_store/notifications"): PUBLIC,
    ("POST", "/v1/stores/google_play/notifications"): PUBLIC,
    # One end user, with their identity provider's token (docs/security.md)
    ("GET", "/v1/me"): END_USER,
    ("GET", "/v1/me/plans"): END_USER,
    ("GET", "/v1/me/subscription"): END_USER,
    ("POST", "/v1/me/subscription"): END_USER,
    ("POST", "/v1/me/subscription/change"): END_USER,
    ("POST", "/v1/me/subscription/cancel"): END_USER,
    ("POST", "/v1/me/subscription/pause"): END_USER,
    ("POST", "/v1/me/subscription/resume"): END_USER,
    ("GET", "/v1/me/invoices"): END_USER,
    ("GET", "/v1/me/payment_methods"): END_USER,
    ("POST", "/v1/me/payment_methods"): END_USER,
    ("GET", "/v1/me/entitlements"): END_USER,
}


class Forbidden(DomainError):
    code = "insufficient_scope"
    http_status = 403
    title = "Forbidden"


def needed_scope(method: str, path_template: str) -> str:
    return ROUTE_SCOPES.get((method, path_template), ADMIN)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    found: Principal | None = connection.scope.get("state", {}).get("principal")
    return found


async def require_scope(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """The guard on every route: the caller's key holds the route's scope."""
    template = connection.scope.get("path_template") or ""
    if not template.startswith("/v1/"):
        return  # probes, metrics, /openapi.json and /docs: public by the gate (api/gate.py)
    needed = needed_scope(str(connection.scope.get("method", "GET")), template)
    if needed == PUBLIC:
        return
    principal = principal_of(connection)
    if principal is None:  # the gate lets only public paths through without a principal
        raise Forbidden("this route needs credentials", code="unauthorized")
    if needed == END_USER:
        if principal.kind != "user":
            raise Forbidden(
                "routes under /v1/me take an end user's token from your identity provider, "
                "not an API key",
                code="end_user_token_required",
            )
        return
    if principal.kind != "key":
        raise Forbidden(
            "an end user's token reaches only routes under /v1/me", code="insufficient_scope"
        )
    if not allows(principal.scopes, needed):
        raise Forbidden(
            f"this key lacks the {needed!r} scope this route needs", required_scope=needed
        )
