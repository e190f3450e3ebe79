"""Input hygiene that applies to every route: a JSON body must say it is JSON (415), and a
query parameter the route does not take is an error (400 ``unknown_parameter``), not silently
ignored (a typo such as ``?custmer=`` must not answer everyone's data)."""

from __future__ import annotations

from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from tenure.kernel.errors import BadRequest, DomainError

# Parameters the framework fills from elsewhere (dependencies, the body, the request).
_NOT_QUERY: Final = frozenset(
    {"self", "request", "data", "runtime", "state", "scope", "headers", "cookies", "socket"}
)
_JSON: Final = ("application/json", "application/problem+json")


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    http_status = 415
    title = "Unsupported media type"


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _JSON or (media.startswith("application/") and media.endswith("+json"))


def has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


_CACHE: Final = "tenure.query_names"


def query_names(handler: BaseRouteHandler) -> frozenset[str]:
    """The query parameters ``handler`` takes: its signature, less path parameters and what
    the framework injects."""
    found: frozenset[str] | None = handler.opt.get(_CACHE)
    if found is None:
        signature = handler.parsed_fn_signature.parameters
        paths = {name for path in handler.paths for name in _path_names(path)}
        dependencies = set(handler.resolve_dependencies())
        found = frozenset(
            parameter.field_alias or name
            for name, parameter in ((name, _alias(p)) for name, p in signature.items())
            if name not in _NOT_QUERY and name not in paths and name not in dependencies
        )
        handler.opt[_CACHE] = found  # per handler object (ids are reused across apps)
    return found


class _Named:
    def __init__(self, alias: str | None) -> None:
        self.field_alias = alias


def _alias(parameter: Any) -> _Named:
    kwarg = getattr(parameter, "kwarg_definition", None)
    return _Named(getattr(kwarg, "query", None) if kwarg is not None else None)


def _path_names(path: str) -> list[str]:
    return [part[1:-1].split(":", 1)[0] for part in path.split("/") if part.startswith("{")]


async def known_query_parameters(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The guard after routing: 415 for a body that is not JSON, 400 for an unknown query
    parameter."""
    template = connection.scope.get("path_template") or ""
    if not template.startswith("/v1/"):
        return
    headers = {
        key.decode("latin-1").lower(): value.decode("latin-1")
        for key, value in connection.scope.get("headers", [])
    }
    method = connection.scope.get("method", "GET")
    signed = template.startswith(
        (
            "/v1/providers/",
            "/v1/stores/app_store/notifications",
            "/v1/stores/google_play/notifications",
        )
    )
    if (
        method in ("POST", "PUT", "PATCH", "DELETE")
        and not signed
        and has_body(headers)
        and not is_json(headers.get("content-type"))
    ):
        raise UnsupportedMediaType(
            "send the body as JSON with 'Content-Type: application/json'",
        )
    unknown = sorted(set(connection.query_params.keys()) - query_names(handler))
    if unknown:
        allowed = ", ".join(sorted(query_names(handler))) or "none"
        raise BadRequest(
            f"unknown query parameter {unknown[0]!r}; this route takes: {allowed}",
            code="unknown_parameter",
            field=unknown[0],
        )
