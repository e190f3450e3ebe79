"""RFC 9457 problem+json for every error, with a stable machine ``code``.

A :class:`DomainError` renders with its own code and status. Request validation failures
become 422 ``invalid_request`` with the offending field. Anything else is a bug: 500, logged.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)

from tenure.db.errors import classify
from tenure.kernel.errors import DomainError
from tenure.observability.context import current_request_id

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class ValidationIssue(msgspec.Struct, kw_only=True):
    message: str
    key: str | msgspec.UnsetType = msgspec.UNSET  # the field or parameter
    source: str | msgspec.UnsetType = msgspec.UNSET  # body, query, path, header


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem: every error the API answers, as ``application/problem+json``.

    Branch on ``code`` (stable), never on ``detail`` (for people). Some codes add members of
    their own; the common ones are listed here, and others may appear (named in docs/api.md).
    """

    type: str  # https://tenure.dev/problems/<code>
    title: str
    status: int  # the HTTP status
    detail: str
    code: str
    instance: str | msgspec.UnsetType = msgspec.UNSET  # the request path
    errors: list[ValidationIssue] | msgspec.UnsetType = msgspec.UNSET  # invalid_request
    field: str | msgspec.UnsetType = msgspec.UNSET  # the offending field
    customer: str | msgspec.UnsetType = msgspec.UNSET
    subscription: str | msgspec.UnsetType = msgspec.UNSET
    invoice: str | msgspec.UnsetType = msgspec.UNSET  # declines: the invoice charged
    retryable: bool | msgspec.UnsetType = msgspec.UNSET  # declines: may the same card succeed
    # authentication_required on pay: what the client must do (docs/payments.md, SCA)
    next_action: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    # The X-Request-Id of the request (every problem answered while serving one carries it).
    request_id: str | msgspec.UnsetType = msgspec.UNSET


def problem_body(
    status: int, code: str, title: str, detail: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://tenure.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    # Extra members never override the standard ones (a "status" extra would break clients).
    body.update({key: value for key, value in (extra or {}).items() if key not in body})
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id  # the same as the X-Request-Id response header
    return body


def problem_bytes(
    status: int, code: str, title: str, detail: str, extra: dict[str, Any] | None = None
) -> bytes:
    return msgspec.json.encode(problem_body(status, code, title, detail, extra))


def _response(
    body: dict[str, Any],
    request: Request[Any, Any, Any],
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    body.setdefault("instance", request.url.path)
    return Response(
        content=body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers
    )


def domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    response = _response(
        problem_body(error.http_status, error.code, error.title, error.message, error.extra),
        request,
    )
    retry_after = error.extra.get("retry_after")
    if error.http_status == 503 and isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


def validation_error(request: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
    errors = error.extra if isinstance(error.extra, list) else []
    detail = str(error.detail)
    if any(e.get("key") == "data" and "'data'" in str(e.get("message")) for e in errors):
        detail = "a JSON body is required for this request"
    elif errors:
        first = errors[0]
        where = first.get("key") or ""
        message = first.get("message") or detail
        detail = f"{message} (at {where})" if where else message
    elif "decode" in detail.lower() or "json" in detail.lower():
        detail = f"the request body is not valid JSON: {detail}"
    return _response(
        problem_body(422, "invalid_request", "Invalid request", detail, {"errors": errors}), request
    )


def http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    if isinstance(error, NotFoundException):
        code, title = "route_not_found", "Not found"
        detail = f"no route {request.method} {request.url.path}; see /docs for the API"
    elif isinstance(error, MethodNotAllowedException):
        code, title = "method_not_allowed", "Method not allowed"
        detail = f"{request.method} is not allowed on {request.url.path}"
    elif error.status_code == 400 and _is_body_decoding(error):
        code, title = "malformed_json", "Malformed JSON"
        detail = f"the request body is not valid JSON: {error.detail}"
    else:
        code, title, detail = "http_error", "Request failed", str(error.detail)
    # A 405 names the methods the path does take (RFC 9110: Allow).
    allow = (error.headers or {}).get("allow") if error.status_code == 405 else None
    return _response(
        problem_body(error.status_code, code, title, detail),
        request,
        {"Allow": allow} if allow else None,
    )


def _is_body_decoding(error: HTTPException) -> bool:
    cause = error.__cause__
    if isinstance(cause, SerializationException | msgspec.DecodeError):
        return True
    text = str(error.detail).lower()
    return any(word in text for word in ("malformed", "truncated", "json", "decode"))


# Seconds a client should wait before retrying a 503 (TENURE_RETRY_AFTER; api/app.py sets it).
RETRY_AFTER = {"seconds": 5}


def failure_problem(error: BaseException) -> tuple[int, dict[str, Any]] | None:
    """The problem for a dependency failure (database down, conflict, value out of range)."""
    failure = classify(error)
    if failure is None:
        return None
    if failure.kind == "unavailable":
        return 503, problem_body(
            503,
            "database_unavailable",
            "Service unavailable",
            failure.detail,
            {"retryable": True},
        )
    if failure.kind == "conflict":
        return 409, problem_body(409, "conflict", "Conflict", failure.detail)
    extra = {"field": failure.field} if failure.field else None
    return 422, problem_body(422, "invalid_value", "Invalid value", failure.detail, extra)


def internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    mapped = failure_problem(error)
    if mapped is not None:
        status, body = mapped
        log.warning(
            "request.dependency_failed",
            status=status,
            exc_type=type(error).__name__,
            method=request.method,
            path=request.url.path,
        )
        response = _response(body, request)
        if status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER["seconds"])
        return response
    # One line: exception type, message (scrubbed) and a short traceback of frames, never
    # local variables, headers or the body (observability/logs.py).
    log.error("request.failed", exc_info=error, method=request.method, path=request.url.path)
    return _response(
        problem_body(
            500,
            "internal_error",
            "Internal error",
            "an unexpected error occurred; it has been logged",
        ),
        request,
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    DomainError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: internal_error,
}
