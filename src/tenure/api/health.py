"""Probes and the scrape endpoint: ``/livez``, ``/readyz``, ``/healthz``, ``/metrics``.

No API key (the gate lets these paths through). ``/livez`` says the process serves requests;
``/readyz`` says it can do useful work (database, schema, catalog) and answers 503 naming the
failing checks otherwise, so an orchestrator stops routing to it without restarting it.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, get
from litestar.response.base import ASGIResponse

from tenure import __version__
from tenure.api.problems import PROBLEM_JSON, problem_bytes
from tenure.observability.metrics import exposition
from tenure.ops.gauges import BusinessGauges
from tenure.ops.readiness import readiness

RETRY_AFTER: Final = "5"
_JSON: Final = "application/json"


def _json(status: int, body: bytes, content_type: str = _JSON) -> ASGIResponse:
    headers = [("content-type", content_type), ("cache-control", "no-store")]
    if status == 503:
        headers.append(("retry-after", RETRY_AFTER))
    return ASGIResponse(body=body, status_code=status, headers=headers)


_ALIVE: Final = b'{"status":"ok","version":"' + __version__.encode() + b'"}'


@get("/livez", include_in_schema=False)
async def livez() -> ASGIResponse:
    return _json(200, _ALIVE)


@get("/healthz", include_in_schema=False)
async def healthz() -> ASGIResponse:
    """Kept for existing probes: the same as ``/livez``."""
    return _json(200, _ALIVE)


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> ASGIResponse:
    import msgspec

    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:  # the lifespan has not finished starting
        body = problem_bytes(503, "starting", "Starting", "Tenure is starting up")
        return _json(503, body, PROBLEM_JSON)
    checks = await readiness(runtime.db, runtime.catalog)
    listed = [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]
    failing = [c for c in checks if not c.ok]
    if not failing:
        return _json(200, msgspec.json.encode({"status": "ready", "checks": listed}))
    detail = "; ".join(f"{c.name}: {c.detail}" for c in failing)
    body = problem_bytes(503, "not_ready", "Not ready", detail, {"checks": listed})
    return _json(503, body, PROBLEM_JSON)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> ASGIResponse:
    runtime = getattr(request.app.state, "runtime", None)
    gauges: BusinessGauges | None = getattr(request.app.state, "gauges", None)
    if runtime is not None and gauges is not None:
        await gauges.refresh(runtime.db, runtime.catalog, runtime.clock.now())
    body, content_type = exposition(request.headers.get("accept"))
    return ASGIResponse(
        body=body, headers=[("content-type", content_type), ("cache-control", "no-store")]
    )


ROUTES: Final = [livez, healthz, readyz, metrics]
