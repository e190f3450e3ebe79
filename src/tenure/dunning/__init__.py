"""Dunning: what happens after a renewal payment fails (retries, grace, hold, recovery)."""
