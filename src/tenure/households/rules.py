"""Household rules. Pure."""

from __future__ import annotations

from typing import Final

from tenure.catalog.model import Product

# Households larger than a couple (Family) share a home; Duo does not need the same address.
SAME_ADDRESS_ABOVE: Final = 2


def has_household(product: Product) -> bool:
    return product.accounts > 1


def requires_same_address(product: Product) -> bool:
    return product.accounts > SAME_ADDRESS_ABOVE


def member_capacity(product: Product) -> int:
    """Seats for members: the product's accounts minus the manager's own."""
    return max(product.accounts - 1, 0)
