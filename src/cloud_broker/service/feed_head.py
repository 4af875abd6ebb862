"""One watcher of the audit trail per process, shared by every open event stream.

A stream used to ask the store every half second whether anything was new; fifty streams made
a hundred queries a second while nothing happened, and took their share of the connections and
of the GIL from the grants they were waiting for. Now a single thread waits on the store (a
LISTEN on PostgreSQL, one poll on SQLite: ``store.audit_watch``) and wakes the streams, which
then each read only their own agent's (or run's) new rows.

The store says whose rows arrived (PostgreSQL in its notifications, SQLite by one bounded read
of the new rows), and only the streams of those agents and runs are woken: a stream following
one run of a busy agent is not woken by the agent's other runs. Where that is unknown (a
reconnect, more new rows or pairs than that read's bounds) every stream looks, at most every
``EVERYONE_SECONDS`` (SQLite's poll interval: no later than before). Targeted wakes come at most
every ``COALESCE_SECONDS``: a burst of rows is one read per stream, not one per row (on SQLite the
watcher then reads the head again at once: while rows keep arriving it makes at most two small
reads per ``COALESCE_SECONDS``, for the whole process).

Each stream keeps the version it last saw (``version``) and waits for a later one (``wait``):
a row that arrives between its read and its wait is not missed. The thread runs only while
streams wait: it ends after a minute without any, and the next stream starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from cloud_broker.service.ports import GrantStore, Moved

# How long one wait on the store may block before the thread looks whether anyone still waits.
WATCH_SECONDS = 5.0
IDLE_SECONDS = 60.0
COALESCE_SECONDS = 0.05
EVERYONE_SECONDS = 0.5
# Bound on the remembered agents and runs; past it they are forgotten and every stream looks once.
MAX_KEYS = 10_000

log = logging.getLogger(__name__)

Key = str | tuple[str, str]


def _key(agent_id: str, run_id: str | None) -> Key:
    return agent_id if run_id is None else (agent_id, run_id)


class FeedHead:
    def __init__(self, store: GrantStore) -> None:
        self._store = store
        self._head = 0
        self._tick = 0  # one more at every wake
        self._everyone = 0  # the tick of the last wake that concerned every stream
        self._touched: dict[Key, int] = {}
        self._waiters: dict[tuple[asyncio.AbstractEventLoop, asyncio.Event], Key] = {}
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None

    def version(self, agent_id: str, run_id: str | None) -> int:
        """What a stream of this agent (and run) has seen, once it reads now."""
        with self._lock:
            return max(self._everyone, self._touched.get(_key(agent_id, run_id), 0))

    async def wait(self, agent_id: str, run_id: str | None, seen: int, timeout: float) -> int:
        """The version once it is beyond ``seen`` (at once if it already is), or after ``timeout``."""
        key, event, loop = _key(agent_id, run_id), asyncio.Event(), asyncio.get_running_loop()
        with self._lock:
            current = max(self._everyone, self._touched.get(key, 0))
            if current > seen:
                return current
            self._waiters[(loop, event)] = key
            self._start()
        self._wanted.set()
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.pop((loop, event), None)
        return self.version(agent_id, run_id)

    def _start(self) -> None:
        """Called under the lock, so one thread at most runs."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="feed-head", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        watch = self._store.audit_watch()
        try:
            while self._waited_for():
                try:
                    moved = watch.wait(self._head, WATCH_SECONDS)
                except Exception as exc:  # noqa: BLE001 - a store fault: streams keep their keepalives
                    log.warning("watching the audit trail failed (%s)", type(exc).__name__)
                    threading.Event().wait(1.0)
                    continue
                if moved.head > self._head or moved.touched:
                    self._moved(moved)
                    time.sleep(EVERYONE_SECONDS if moved.touched is None else COALESCE_SECONDS)
        finally:
            watch.close()

    def _waited_for(self) -> bool:
        """True while a stream waits; False (and the thread is let go) after an idle minute."""
        with self._lock:
            if self._waiters:
                return True
            self._wanted.clear()
        if self._wanted.wait(IDLE_SECONDS):
            return True
        with self._lock:
            if self._waiters:
                return True
            self._thread = None
            return False

    def _moved(self, moved: Moved) -> None:
        with self._lock:
            self._head = max(self._head, moved.head)
            self._tick += 1
            if moved.touched is None or len(self._touched) + 2 * len(moved.touched) > MAX_KEYS:
                self._everyone, woken = self._tick, list(self._waiters)
                if moved.touched is not None:
                    self._touched.clear()
            else:
                keys = {key for agent, run in moved.touched if agent for key in (agent, (agent, run))}
                for key in keys:
                    self._touched[key] = self._tick
                woken = [waiter for waiter, key in self._waiters.items() if key in keys]
        for loop, event in woken:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that stream's loop has closed
                pass
