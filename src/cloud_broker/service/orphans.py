"""Credentials the cloud issued that the broker could not record: find them, and revoke them.

Two ways to get one. The broker dies between the cloud's answer and the commit that records it
(the intent row stays ``minting``); or the store refuses the commit (disk full, read-only) while
the process lives on. Either way nobody was handed the credentials, but they are valid in the
cloud: the grant is failed and a ``cloud_revoke`` job written in the same transaction, so the
cloud refuses them as soon as that job runs.

A mint records which broker process ran it (``Deps.instance``); each process renews a short
lease under its instance name while it lives (``Liveness``). A ``minting`` row whose process no
longer holds its lease was orphaned by a crash, and any process's sweeper settles it at once,
instead of waiting out the time a mint could take. A live process that could not record a mint
keeps it in memory (``Orphans``) and settles it as soon as the store accepts writes again.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from cloud_broker.domain.grants import Grant
from cloud_broker.service import leases
from cloud_broker.service.deps import Deps

log = logging.getLogger(__name__)

INSTANCE_LEASE = timedelta(seconds=20)
HEARTBEAT_SECONDS = 5.0
UNRECORDED = ("the cloud issued credentials but the broker could not record them; they were never handed out, "
              "and the broker revokes them in the cloud — request a new grant")
ORPHANED = ("the broker process minting this grant stopped before recording it; no credentials were handed out, "
            "and any the cloud issued are revoked there — request a new grant")


def _name(instance: str) -> str:
    return f"instance:{instance}"


class Liveness:
    """This process's lease under its instance name, and the question asked of others'."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._token: int | None = None

    def heartbeat(self) -> None:
        self._token = leases.renew(self._deps.store, _name(self._deps.instance), self._token,
                                   self._deps.clock(), INSTANCE_LEASE)

    def alive(self, instance: str) -> bool:
        """Ours is alive by definition; another is while it holds its lease."""
        return instance == self._deps.instance or leases.held(self._deps.store, _name(instance), self._deps.clock())


class Orphans:
    """Grants this process minted in the cloud but could not record, until settled."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}

    def add(self, grant: Grant) -> None:
        with self._lock:
            self._grants[grant.grant_id] = grant

    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._grants)

    def settle(self) -> int:
        """Fail and revoke each one the store now accepts; how many were settled."""
        from cloud_broker.service.minting import fail_interrupted

        settled = 0
        for grant_id in self.pending():
            with self._lock:
                grant = self._grants[grant_id]
            try:
                fail_interrupted(self._deps, grant, "system:orphans", UNRECORDED, revoke_in_cloud=True)
            except Exception as exc:  # noqa: BLE001 - the store still refuses: try again next time
                log.warning("grant %s: recording the unrecorded mint still fails: %s", grant_id, type(exc).__name__)
                continue
            with self._lock:
                self._grants.pop(grant_id, None)
            settled += 1
        return settled
