"""Customers: the users of the client's product, keyed by their id in the client's system."""
