"""Writes down what time has already decided, and settles interrupted mints.

Reads never depend on it (an active grant past ``expires_at`` already reads as expired);
it exists so ciphertext does not outlive its grant and no ``minting`` row is forgotten.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.service.access import settle_expired
from cloud_broker.service.deps import Deps
from cloud_broker.service.jobs import PENDING, Job, given_up, save
from cloud_broker.service.minting import MINT, fail_interrupted

# A mint takes seconds; a row still minting after this was interrupted by a crash.
STALE_MINTING = timedelta(minutes=5)
# An approval waits this long for a broker process to run its mint job (``cloud-broker
# approve`` only records it); past it nobody is minting, and the approver is told so.
MINT_WAIT = timedelta(minutes=10)
NOBODY_MINTED = ("approved, but no broker process minted it within 10 minutes; no credentials were handed out "
                 "— is `cloud-broker serve` (or the embedded MCP server) running?")


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
        failed = sum(self._settle_minting(grant, now) for grant in minting)
        return {"expired": len(due), "failed": failed}

    def _settle_minting(self, grant: Grant, now: datetime) -> bool:
        """Fail a ``minting`` grant nobody will finish; True when it was failed here.

        A grant with a mint job not yet started waits for a broker process up to ``MINT_WAIT``;
        one with a started job is the job runner's (a second claim fails it); any other is past
        ``STALE_MINTING`` only if a crash interrupted its inline mint."""
        with self._deps.store.unit_of_work() as uow:
            jobs = uow.list_deliveries(grant_id=grant.grant_id, kinds=(MINT,))
        waiting = [job for job in jobs if job.status == PENDING and job.attempts == 0]
        if waiting:
            return self._give_up_waiting(grant, waiting[-1], now)
        if any(job.status == PENDING for job in jobs) or now - grant.updated_at <= STALE_MINTING:
            return False
        return fail_interrupted(self._deps, grant, "system:sweeper")

    def _give_up_waiting(self, grant: Grant, job: Job, now: datetime) -> bool:
        if now - job.created_at <= MINT_WAIT:
            return False
        if not fail_interrupted(self._deps, grant, "system:sweeper", NOBODY_MINTED):
            return False  # a broker took it after all
        save(self._deps, given_up(job, "no broker process ran it in time", now))
        return True
