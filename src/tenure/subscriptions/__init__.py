"""Subscriptions: one explicit state machine, history rows, and what falls due when."""
