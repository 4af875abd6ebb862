"""One watcher of the audit trail's head per process, shared by every open event stream.

A stream used to ask the store every half second whether anything was new; fifty streams made
a hundred queries a second while nothing happened, and took their share of the connections and
of the GIL from the grants they were waiting for. Now a single thread waits on the store (a
LISTEN on PostgreSQL, one poll on SQLite: ``store.audit_watch``) and wakes the streams, which
then each read only their own agent's new rows. The thread runs only while streams wait: it ends after a minute without any, and the next
stream starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from cloud_broker.service.ports import GrantStore

# How long one wait on the store may block before the thread looks whether anyone still waits.
WATCH_SECONDS = 5.0
IDLE_SECONDS = 60.0

log = logging.getLogger(__name__)


class FeedHead:
    def __init__(self, store: GrantStore) -> None:
        self._store = store
        self._head = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None

    async def wait_past(self, seen: int, timeout: float) -> int:
        """The head once it is beyond ``seen`` (at once if it already is), or after ``timeout``."""
        if self._head > seen:
            return self._head
        event, loop = asyncio.Event(), asyncio.get_running_loop()
        with self._lock:
            self._waiters.add((loop, event))
            self._start()
        self._wanted.set()
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard((loop, event))
        return self._head

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
                    head = watch.wait(self._head, WATCH_SECONDS)
                except Exception as exc:  # noqa: BLE001 - a store fault: streams keep their keepalives
                    log.warning("watching the audit trail failed (%s)", type(exc).__name__)
                    threading.Event().wait(1.0)
                    continue
                if head > self._head:
                    self._moved(head)
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

    def _moved(self, head: int) -> None:
        self._head = head
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that stream's loop has closed
                pass
