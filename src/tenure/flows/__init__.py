"""Use cases that span modules. Each opens and commits its own transactions."""
