"""Writes down what time has already decided, and settles interrupted mints.

Reads never depend on it (an active grant past ``expires_at`` already reads as expired);
it exists so ciphertext does not outlive its grant and no ``minting`` row is forgotten.
"""

from __future__ import annotations

from datetime import timedelta

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.service.access import settle_expired
from cloud_broker.service.deps import Deps, audit

# A mint takes seconds; a row still minting after this was interrupted by a crash.
STALE_MINTING = timedelta(minutes=5)


class Sweeper:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def sweep(self) -> dict[str, int]:
        """One pass; returns how many grants were expired and how many stale mints failed."""
        now = self._deps.clock()
        with self._deps.store.unit_of_work() as uow:
            due = uow.list_due_for_expiry(now)
            minting = uow.list_grants(statuses=(GrantStatus.MINTING,), limit=1000)
        for grant in due:
            settle_expired(self._deps, grant, "system:sweeper")
        stale = [g for g in minting if now - g.updated_at > STALE_MINTING]
        for grant in stale:
            self._fail_interrupted(grant)
        return {"expired": len(due), "failed": len(stale)}

    def _fail_interrupted(self, grant: Grant) -> None:
        now = self._deps.clock()
        failed = grant.moved_to(
            GrantStatus.FAILED, now,
            denial_reason="minting was interrupted; no credentials were handed out — request a new grant",
        )
        with self._deps.store.unit_of_work() as uow:
            if uow.update_grant(failed, expected=GrantStatus.MINTING):
                uow.delete_secret(grant.grant_id)
                audit(uow, "grant.failed", "system:sweeper", now, failed, reason=failed.denial_reason)
