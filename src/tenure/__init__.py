"""Tenure: the subscription-lifecycle backend."""

__version__ = "0.1.0"
