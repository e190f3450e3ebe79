"""The transactional outbox: every state change records its event in the same transaction."""
