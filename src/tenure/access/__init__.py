"""API keys and stored idempotent responses: who may call, and what they were answered."""
