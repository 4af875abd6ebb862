"""A bound on how many argon2 password checks run at once, and on how many wait for one.

Why a bound: each check costs argon2id's time and memory (64 MiB with argon2-cffi's defaults)
on purpose, and the throttle only limits checks per name and per address. Many names from many
addresses could still keep every core busy; with this bound sign-in can use at most
``CHECK_SLOTS`` cores, whoever is asking.

Why the waiters are bounded too: the console's routes are sync ``def``s, so FastAPI runs them
in anyio's default thread pool (40 threads per event loop), the same pool that serves every
sync route of the agent API (``/aws/*``, ``/host/*``). A sign-in waiting for a check slot holds
one of those threads. A bounded *wait* alone does not bound how many threads wait: enough
parallel sign-ins would fill the pool with waiters and queue the agent API behind them. So at
most ``CHECK_QUEUE`` sign-ins may wait, for at most ``CHECK_WAIT``; any further one is refused
at once. Sign-in thus holds at most ``CHECK_SLOTS + CHECK_QUEUE`` (12) pool threads for longer
than an instant, and the agent API keeps the other 28 or more, however hard the console is
attacked. Requests refused at once still pass through the pool, but for microseconds: that is
an ordinary request flood, which belongs to a proxy in front of the broker.

Why threading primitives rather than anyio ones: the bound is shared by every request of the
console, whichever event loop serves it (the test client runs one loop per request), and the
waiting happens in the worker thread the route already runs in.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

# Half the cores, between one and four: sign-in must leave CPU to the agent API and the
# sweeper, and four concurrent checks already cost 256 MiB with argon2-cffi's default
# memory_cost. A real approver needs one check; throughput only matters to a guesser.
CHECK_SLOTS = max(1, min(4, (os.cpu_count() or 1) // 2))
# Sign-ins that may wait for a slot. Eight keeps slots + waiters (at most 12) far below
# anyio's 40 default worker threads, and is plenty for a team signing in at 9 am.
CHECK_QUEUE = 8
# Long enough for a few checks (tens of milliseconds each) to finish and free a slot, short
# enough that a refused approver is told so promptly; a waiter holds a pool thread meanwhile.
CHECK_WAIT = timedelta(milliseconds=500)


class Busy(Exception):
    """Every check slot stayed taken for the whole wait, or too many sign-ins were already waiting."""


class CheckSlots:
    """At most ``slots`` password checks at once; at most ``queue`` more wait up to ``wait``.

    One instance per console, shared by all of its requests; ``cloud-broker serve`` builds one
    console per process, so this is the process's bound. Thread-safe.
    """

    def __init__(self, slots: int = CHECK_SLOTS, queue: int = CHECK_QUEUE, wait: timedelta = CHECK_WAIT) -> None:
        if slots < 1 or queue < 0:
            raise ValueError("a check bound needs at least one slot and a non-negative queue")
        self.slots = slots
        self.queue = queue
        self.wait = wait
        self._changed = threading.Condition()
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        """Checks holding a slot now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Sign-ins waiting for a slot now."""
        return self._waiting

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block, or raise Busy without running it."""
        if not self._take():
            raise Busy()
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify()

    def _take(self) -> bool:
        with self._changed:
            if self._running < self.slots:
                self._running += 1
                return True
            if self._waiting >= self.queue:
                return False
            self._waiting += 1
            try:
                free = self._changed.wait_for(lambda: self._running < self.slots, timeout=self.wait.total_seconds())
            finally:
                self._waiting -= 1
            if free:
                self._running += 1
            return free
