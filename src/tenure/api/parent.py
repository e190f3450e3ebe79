"""HTTP worker processes exit when the process that started them dies (issue 10).

``tenure serve`` runs Granian, whose main process starts the HTTP worker processes. When the
main process is killed (``kill -9``, an OOM kill), nothing tells the workers: they used to go
on serving the port, orphaned, beside the next server started on it. Each worker started by
``tenure serve`` (``TENURE_EXIT_WITH_PARENT=true``) checks its parent every second: when the
parent changes (re-parented to init or a subreaper) the embedded worker loop finishes its
pass, the pool closes (at most ``GRACE`` seconds) and the process exits.

Granian's workers take their stop signal from the main process, so a SIGTERM to oneself does
not stop them; ``PR_SET_PDEATHSIG`` is not used either: it fires when the *thread* that
started the process exits, which is not the parent dying.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

log = structlog.get_logger(__name__)

ENV: Final = "TENURE_EXIT_WITH_PARENT"
GRACE: Final = 10.0


def wanted() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


async def exit_with_parent(
    cleanup: Callable[[], Awaitable[None]], *, interval: float = 1.0
) -> None:
    """Run for the life of the process; when its parent is gone, ``cleanup`` and exit."""
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - no event announces a parent's death
        await asyncio.sleep(interval)
    log.warning("process.orphaned", parent=parent, action="exiting")
    with contextlib.suppress(Exception):
        await asyncio.wait_for(cleanup(), GRACE)
    os._exit(0)
