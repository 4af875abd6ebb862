"""Memos whose size is bounded in bytes, not entries.

The engine memoises settled answers across decisions, keyed by what agents send. A bound on
the number of entries is no bound when one key can be a 2,048-character pattern and one value
an automaton of thousands of big integers: a few requests could pin gigabytes. Each memo here
weighs what it holds and is emptied when it would pass its limit — crude, but constant-time,
and an agent can only make the broker forget, never grow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MISSING = object()


class BoundedMemo(Generic[K, V]):
    """A dict of settled answers holding at most ``limit`` bytes as ``weigh`` estimates them."""

    def __init__(self, limit: int, weigh: Callable[[K, V], int]) -> None:
        self.limit = limit
        self._weigh = weigh
        self._items: dict[K, V] = {}
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def lookup(self, key: K) -> object:
        """The value, or ``MISSING`` (for memos whose values may be None)."""
        return self._items.get(key, MISSING)

    def put(self, key: K, value: V) -> None:
        weight = self._weigh(key, value)
        if weight > self.limit:
            return  # never worth keeping
        with self._lock:
            if self._held + weight > self.limit:
                self._items.clear()
                self._held = 0
            if key not in self._items:
                self._held += weight
            self._items[key] = value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._held = 0

    @property
    def held(self) -> int:
        """Bytes held, as estimated (tests read it)."""
        return self._held

    def __len__(self) -> int:
        return len(self._items)
