"""Payments: attempts with idempotency keys, and the PaymentProvider port with its sandbox."""
