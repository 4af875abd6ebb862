"""The double's sense of time, injected so that tests can expire tokens without waiting.

Token lifetimes, ``expireTime`` and ``expires_in`` are all computed from the clock the
double was started with; nothing in the double reads the system time on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC."""


def system_clock() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: ``advance`` it to expire tokens in a test.

    It starts at ``start`` (the system time at construction if omitted). Thread-safe:
    the double reads it from its server thread while a test advances it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start or system_clock()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> None:
        """Move time forward; moving it back would un-expire tokens, which Google never does."""
        if by < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += by
