"""Entitlements: what a customer may do right now."""
