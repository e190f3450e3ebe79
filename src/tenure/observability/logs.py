"""One log pipeline for every Tenure process: ``tenure serve`` and its Granian workers,
``tenure worker``, the CLI, and the libraries underneath (stdlib ``logging`` records from Granian,
SQLAlchemy, Alembic, httpx, asyncio go through the same processors).

- JSON lines by default when stderr is not a terminal, key=value console lines when it is
  (``TENURE_LOG_FORMAT=json|console|auto``); level from ``TENURE_LOG_LEVEL`` (default ``info``).
- Every line carries ``timestamp`` (UTC), ``level``, ``event`` and, while serving a request,
  its ``request_id``.
- An exception becomes three fields on the same line: ``exc_type``, ``exc_message`` (scrubbed)
  and a short ``traceback`` of ``file:line function`` frames. No local variables, no source
  lines: rendering is cheap (no rich traceback) and cannot leak what a frame held (a request
  body, an API key).
- Values are scrubbed before rendering (``observability.redact``).

Logs go to stderr: stdout stays clean for command output (``tenure keys list --json``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import msgspec
import structlog

from tenure.observability.context import REQUEST_ID
from tenure.observability.redact import REDACTED, SECRET_FIELDS, Scrubber

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
MAX_FRAMES: Final = 8
MAX_VALUE: Final = 2000
# Access lines written together at most this large (PIPE_BUF on Linux is 4096: writes up to it
# are atomic on a pipe shared by several processes).
HELD_BYTES: Final = 4000
# Libraries whose INFO lines are noise (or may carry URLs with tokens): warnings and up only.
QUIET: Final = ("sqlalchemy", "aiosqlite", "asyncio", "httpx", "httpcore", "nats", "litestar")

EventDict = MutableMapping[str, Any]


class _Output:
    """Where rendered lines go: stderr as it is at write time, or the sinks a caller chose.

    One ``write`` per line, so lines from several processes sharing a pipe never interleave.
    """

    def __init__(self) -> None:
        self.sinks: list[TextIO] = []
        self.extra: list[TextIO] = []
        self.held: list[str] = []  # access lines of this event-loop turn (``hold``)
        self.held_size = 0

    def write(self, text: str) -> int:
        if self.held:
            self.release()  # lines stay in the order they were logged
        self._emit(text)
        return len(text)

    def _emit(self, text: str) -> None:
        for sink in self.sinks or [sys.stderr]:
            sink.write(text)
            sink.flush()
        for sink in self.extra:
            sink.write(text)

    def hold(self, line: str) -> None:
        """An access line, written with the others of the same event-loop turn in one write
        (one system call instead of one per request). At most ``HELD_BYTES`` per write, so
        lines from several processes sharing a pipe still never interleave (``PIPE_BUF``)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write(line)  # no event loop: nothing would release it
            return
        if self.held_size + len(line) > HELD_BYTES:
            self.release()
        if not self.held:
            loop.call_soon(self.release)
        self.held.append(line)
        self.held_size += len(line)

    def release(self) -> None:
        if self.held:
            text = "".join(self.held)
            self.held.clear()
            self.held_size = 0
            self._emit(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return not self.sinks and sys.stderr.isatty()


_output = _Output()
atexit.register(_output.release)
_state: dict[str, Any] = {"configured": False, "scrubber": Scrubber()}


# --- processors -------------------------------------------------------------------------------


def _request_id(_: Any, __: str, event: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None and "request_id" not in event:
        event["request_id"] = request_id
    return event


def _short_path(filename: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        index = filename.rfind(marker)
        if index >= 0:
            return filename[index + len(marker) :]
    return os.path.basename(filename)


def _exception(value: Any) -> BaseException | None:
    if value is True:
        return sys.exc_info()[1]
    if isinstance(value, BaseException):
        return value
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value[1]
    return None


def describe_exception(error: BaseException) -> dict[str, str]:
    """``exc_type``, ``exc_message`` and a one-line ``traceback`` (frames, never locals)."""
    kind = type(error)
    module = kind.__module__
    name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    frames = traceback.StackSummary.extract(
        traceback.walk_tb(error.__traceback__), lookup_lines=False, capture_locals=False
    )
    fields = {
        "exc_type": name,
        "exc_message": str(error)[:500],
        "traceback": " > ".join(
            f"{_short_path(frame.filename)}:{frame.lineno} {frame.name}"
            for frame in frames[-MAX_FRAMES:]
        ),
    }
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None:
        fields["exc_cause"] = f"{type(cause).__name__}: {str(cause)[:300]}"
    return fields


def _exceptions(_: Any, __: str, event: EventDict) -> EventDict:
    event.pop("stack_info", None)
    raw = event.pop("exc_info", None)
    error = _exception(raw) if raw else None
    if error is not None:
        event.update(describe_exception(error))
    return event


def _clean(value: Any, scrubber: Scrubber, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrubber.text(value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + "…")
    if value is None or isinstance(value, int | float | bool):
        return value
    if depth < 2 and isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, scrubber, depth + 1) for item in list(value)[:50]]
    if depth < 2 and isinstance(value, dict):
        return {
            str(k): REDACTED if str(k).lower() in SECRET_FIELDS else _clean(v, scrubber, depth + 1)
            for k, v in list(value.items())[:50]
        }
    return scrubber.text(str(value)[:MAX_VALUE])


# Fields Tenure itself fills with values that cannot hold a secret (validated request ids,
# route templates, numbers): not scanned, which keeps the access line cheap.
_TRUSTED: Final = frozenset(
    {"timestamp", "level", "event", "request_id", "method", "route", "status", "duration_ms"}
)


def _scrub(_: Any, __: str, event: EventDict) -> EventDict:
    scrubber: Scrubber = _state["scrubber"]
    for key, value in event.items():
        if key in _TRUSTED or value is None or isinstance(value, int | float):
            continue
        event[key] = REDACTED if key.lower() in SECRET_FIELDS else _clean(value, scrubber)
    return event


def _encode(value: Any) -> str:
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_encode)


def _json(_: Any, __: str, event: EventDict) -> str:
    ordered = {
        "timestamp": event.pop("timestamp", None),
        "level": event.pop("level", None),
        "event": event.pop("event", None),
    }
    ordered.update(event)
    return _encoder.encode(ordered).decode()


def _shared() -> list[Any]:
    return [
        structlog.processors.add_log_level,
        _request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _exceptions,
        _scrub,
    ]


def _renderer(fmt: str) -> Any:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(
            colors=_output.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    return _json


# --- configuration ----------------------------------------------------------------------------


def settings_from_env() -> tuple[str, str]:
    level = (os.environ.get("TENURE_LOG_LEVEL") or "info").strip().lower()
    if level == "warn":
        level = "warning"
    if level not in LEVELS:
        level = "info"
    fmt = (os.environ.get("TENURE_LOG_FORMAT") or "auto").strip().lower()
    if fmt not in ("json", "console"):
        fmt = "console" if _output.isatty() else "json"
    return level, fmt


def configure(
    *,
    level: str | None = None,
    fmt: str | None = None,
    stream: TextIO | None = None,
    force: bool = False,
) -> None:
    """Set up structlog and stdlib logging for this process (once; ``force`` to redo)."""
    if _state["configured"] and not force:
        return
    if stream is not None:
        _output.sinks = [stream]
    env_level, env_fmt = settings_from_env()
    level = level or env_level
    fmt = fmt or env_fmt
    _state["scrubber"] = Scrubber(
        value for value in (os.environ.get("TENURE_API_KEY"),) if value is not None
    )
    _paths.clear()  # scrubbed with the previous scrubber
    renderer = _renderer(fmt)
    structlog.configure(
        processors=[*_shared(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=_output),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(stdlib_handler(renderer))
    root.setLevel(LEVELS[level])
    quiet = max(LEVELS[level], logging.WARNING)
    for name in QUIET:
        logging.getLogger(name).setLevel(quiet)
    _state.update(configured=True, level=level, fmt=fmt)


def stdlib_handler(renderer: Any | None = None) -> logging.Handler:
    """A handler that sends stdlib records through the same processors and output."""
    if renderer is None:
        configure()
        renderer = _renderer(_state["fmt"])
    handler = logging.StreamHandler(_output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_shared(),
                renderer,
            ],
        )
    )
    return handler


_access_log = structlog.get_logger("tenure.http")


def access(**fields: Any) -> None:
    """One access line. With JSON output it skips the processor chain (this runs on every
    request, the benchmarked entitlement read included): the fields are Tenure's own (method,
    route template, status, duration, validated request id) except ``path``, which is scrubbed.
    """
    if _state.get("fmt") != "json" or LEVELS[_state.get("level", "info")] > logging.INFO:
        _access_log.info("http.request", **fields)
        return
    record = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "level": "info",
        "event": "http.request",
        **fields,
        "path": _scrubbed_path(str(fields.get("path", ""))),
    }
    request_id = REQUEST_ID.get()
    if request_id is not None:
        record["request_id"] = request_id
    _output.hold(_encoder.encode(record).decode() + "\n")


_paths: dict[str, str] = {}  # scrubbed paths, for the ones read over and over
MAX_PATHS: Final = 4096


def _scrubbed_path(path: str) -> str:
    found = _paths.get(path)
    if found is None:
        if len(_paths) >= MAX_PATHS:
            _paths.clear()
        scrubber: Scrubber = _state["scrubber"]
        found = _paths[path] = scrubber.text(path[:MAX_VALUE])
    return found


def release() -> None:
    """Write the access lines held for this event-loop turn now."""
    _output.release()


def current_level() -> str:
    configure()
    level: str = _state["level"]
    return level


def granian_config() -> dict[str, Any]:
    """Granian's ``log_dictconfig``: its loggers propagate into this pipeline in every process."""
    level = _state.get("level", "info").upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {},
        "handlers": {"tenure": {"()": "tenure.observability.logs.stdlib_handler"}},
        "loggers": {
            "_granian": {"handlers": [], "level": level, "propagate": True},
            "granian.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
        "root": {"handlers": ["tenure"], "level": level},
    }


@contextlib.contextmanager
def captured() -> Iterator[list[str]]:
    """Every line rendered inside the block, for tests (also written to the normal output)."""
    import io

    buffer = io.StringIO()
    lines: list[str] = []
    _output.release()
    _output.extra.append(buffer)
    try:
        yield lines
    finally:
        _output.release()
        _output.extra.remove(buffer)
        lines.extend(buffer.getvalue().splitlines())
