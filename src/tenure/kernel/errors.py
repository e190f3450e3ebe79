"""Domain errors carry a stable machine ``code`` and the HTTP status the API renders.

The API turns every :class:`DomainError` into an RFC 9457 problem+json body; anything else that
escapes a request is a bug and a 500.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code: str = "error"
    http_status: int = 400
    title: str = "Request failed"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra


class BadRequest(DomainError):
    """The request itself is malformed (an unknown filter value, a bad header)."""

    code = "bad_request"
    http_status = 400
    title = "Bad request"


class InvalidRequest(DomainError):
    code = "invalid_request"
    http_status = 422
    title = "Invalid request"


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    http_status = 409
    title = "Conflict"


class PaymentRequired(DomainError):
    code = "payment_failed"
    http_status = 402
    title = "Payment failed"


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401
    title = "Unauthorized"
