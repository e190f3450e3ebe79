"""Duo and Family households: the manager's subscription, its members, invites and seats."""
