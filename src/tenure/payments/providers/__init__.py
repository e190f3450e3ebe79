"""Adapters for real payment providers behind the port (payments/ports.py)."""
