"""A clock that runs with real time but can jump ahead, so backoff never costs real minutes.

Real seconds keep passing (webhook-timestamp headers stay verifiable); ``jump`` adds an
offset, as if the relay had slept that long.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class JumpClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump(self, by: timedelta) -> None:
        self.offset += by
