"""Writes down what time has already decided, settles interrupted mints, collects revocations.

Reads never depend on it (an active grant past ``expires_at`` already reads as expired);
it exists so ciphertext does not outlive its grant, no ``minting`` row is forgotten and no
credentials the cloud issued outlive a crash, and revocation state in the cloud stays small.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.service.access import settle_expired
from cloud_broker.service.deps import Deps
from cloud_broker.service.jobs import PENDING, Job, given_up, save
from cloud_broker.service.minting import INSTANCE, MINT, MINT_INTENT, fail_interrupted
from cloud_broker.service.orphans import ORPHANED, Liveness, Orphans
from cloud_broker.service.revocation import Revocations

# A mint takes seconds; a row still minting after this was interrupted by a crash.
STALE_MINTING = timedelta(minutes=5)
# An approval waits this long for a broker process to run its mint job (``cloud-broker
# approve`` only records it); past it nobody is minting, and the approver is told so.
MINT_WAIT = timedelta(minutes=10)
# Failed console sign-ins are counted for minutes (the console's throttle window is five); the
# sweeper removes older rows, so none lingers on a console nobody signs in to with a password.
SIGN_IN_FAILURES_KEPT = timedelta(minutes=10)
NOBODY_MINTED = ("approved, but no broker process minted it within 10 minutes; no credentials were handed out "
                 "— is `cloud-broker serve` (or the embedded MCP server) running?")


class Sweeper:
    def __init__(self, deps: Deps, liveness: Liveness, orphans: Orphans, revocations: Revocations) -> None:
        self._deps = deps
        self._liveness = liveness
        self._orphans = orphans
        self._revocations = revocations

    def sweep(self, *, collect: bool = False) -> dict[str, int]:
        """One pass; returns how many grants were expired, how many interrupted mints failed,
        how many unrecorded mints were settled and how many revocation entries were collected
        (at most every few minutes across processes, or now with ``collect``)."""
        now = self._deps.clock()
        unrecorded = self._orphans.settle()
        with self._deps.store.reading() as uow:
            due = uow.list_due_for_expiry(now)
            minting = uow.list_grants(statuses=(GrantStatus.MINTING,), limit=1000)
        for grant in due:
            settle_expired(self._deps, grant, "system:sweeper")
        failed = sum(self._settle_minting(grant, now) for grant in minting)
        collected = self._revocations.collect(force=collect)
        with self._deps.store.unit_of_work() as uow:
            uow.prune_sign_in_failures(now - SIGN_IN_FAILURES_KEPT)
        return {"expired": len(due), "failed": failed, "unrecorded": unrecorded, "collected": collected}

    def _settle_minting(self, grant: Grant, now: datetime) -> bool:
        """Fail a ``minting`` grant nobody will finish; True when it was failed here.

        A grant with a mint job not yet started waits for a broker process up to ``MINT_WAIT``.
        One whose minting process is gone was orphaned by a crash: failed at once, and whatever
        the cloud issued revoked. Otherwise a started job is the job runner's (a second claim
        fails it), and an inline mint older than ``STALE_MINTING`` was interrupted."""
        with self._deps.store.reading() as uow:
            jobs = uow.list_deliveries(grant_id=grant.grant_id, kinds=(MINT, MINT_INTENT))
        mint_jobs = [job for job in jobs if job.kind == MINT]
        waiting = [job for job in mint_jobs if job.status == PENDING and job.attempts == 0]
        if waiting:
            return self._give_up_waiting(grant, waiting[-1], now)
        minters = [str(job.payload[INSTANCE]) for job in jobs if INSTANCE in job.payload]
        if minters and not self._liveness.alive(minters[-1]):
            return fail_interrupted(self._deps, grant, "system:sweeper", ORPHANED, revoke_in_cloud=True)
        if any(job.status == PENDING for job in mint_jobs) or now - grant.updated_at <= STALE_MINTING:
            return False
        return fail_interrupted(self._deps, grant, "system:sweeper", revoke_in_cloud=True)

    def _give_up_waiting(self, grant: Grant, job: Job, now: datetime) -> bool:
        if now - job.created_at <= MINT_WAIT:
            return False
        if not fail_interrupted(self._deps, grant, "system:sweeper", NOBODY_MINTED):
            return False  # a broker took it after all
        save(self._deps, given_up(job, "no broker process ran it in time", now))
        return True
