"""The sign-in throttle's limits, counted in the store so that every broker process shares them.

``sessions.Throttle`` counts in each process's memory: cheap, bounded, and the first line. But
behind a load balancer over several brokers, each would allow the limit, and a guesser who
spreads attempts would get one allowance per process. This layer counts the same three things
(the name from the address, the name, the address) in the store, under a lock per key on
PostgreSQL (SQLite's write lock serialises it already), and refuses once any of them is full.

Storage stays bounded: a row is written only for an attempt that passed both layers and is about
to run argon2, rows older than the window are pruned in batches as sign-ins arrive (and by the
sweeper), so the table holds at most three rows per password check the brokers could run in one
window.

What is stored is a keyed hash of each key, never the name or address typed: people type
passwords into the name field, and a database (or its backup) must not collect them. The hash
key is derived from the master key, so every broker on the store computes the same keys.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from cloud_broker.service.ports import GrantStore
from cloud_broker.web.sessions import (
    ADDRESS_FAILURES_ALLOWED,
    FAILURE_WINDOW,
    FAILURES_ALLOWED,
    NAME_FAILURES_ALLOWED,
    Attempt,
    Throttled,
    address_key,
)


HASH_PURPOSE = b"cloud-broker console sign-in throttle v1"


class SharedThrottle:
    def __init__(self, store: GrantStore, clock: Callable[[], datetime], hash_key: bytes) -> None:
        self._store = store
        self._clock = clock
        self._hash_key = hash_key

    def _keys(self, name: str, address: str) -> list[tuple[str, int]]:
        """The keys an attempt counts against, each with its limit, in the order they are locked:
        HMAC-SHA256 of what is counted, so no typed name reaches the store."""
        raw = [(f"pair:{name}\0{address}", FAILURES_ALLOWED), (f"name:{name}", NAME_FAILURES_ALLOWED),
               (f"address:{address_key(address)}", ADDRESS_FAILURES_ALLOWED)]
        return [(hmac.new(self._hash_key, key.encode(), hashlib.sha256).hexdigest(), limit) for key, limit in raw]

    def reserve(self, attempt: Attempt) -> None:
        """Count ``attempt`` as failed in the store, or raise Throttled (counting nothing)."""
        keys = self._keys(attempt.name, attempt.address)
        with self._store.unit_of_work() as uow:
            for key, _ in keys:
                uow.serialize("sign-in", key)
            uow.prune_sign_in_failures(self._clock() - FAILURE_WINDOW)
            counts = uow.count_sign_in_failures([key for key, _ in keys], attempt.at - FAILURE_WINDOW)
            if any(counts.get(key, 0) >= limit for key, limit in keys):
                raise Throttled()
            uow.add_sign_in_failures([key for key, _ in keys], attempt.at)

    def succeeded(self, attempt: Attempt) -> None:
        """As ``Throttle.succeeded``: the pair's failures are forgiven, the name's and the
        address's lose only this attempt."""
        pair, name, address = (key for key, _ in self._keys(attempt.name, attempt.address))
        with self._store.unit_of_work() as uow:
            uow.forget_sign_in_failures(pair)
            uow.take_back_sign_in_failure(name, attempt.at)
            uow.take_back_sign_in_failure(address, attempt.at)

    def not_checked(self, attempt: Attempt) -> None:
        with self._store.unit_of_work() as uow:
            for key, _ in self._keys(attempt.name, attempt.address):
                uow.take_back_sign_in_failure(key, attempt.at)
