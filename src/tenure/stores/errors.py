"""Errors of the store clients."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store's API did not answer usefully (timeout, 429, 5xx); try again later."""


class PurchaseNotFound(Exception):
    """The store does not know this purchase (a wrong id or token, or one it forgot)."""
