"""Turning an approved grant into credentials: intent first, then the cloud, then the vault.

The ``minting`` row is committed before the cloud is called. If the broker dies after
the cloud answered but before the ciphertext is stored, the row stays ``minting`` and the sweeper
settles it as ``failed``: the credentials were never handed to anyone and expire on their own.

An approval is a ``mint`` job (``service.jobs``) written with it: the broker process runs it,
with the broker's cloud identity, whoever approved and from wherever (the console, Slack, or
``cloud-broker approve`` in an approver's own shell, which never calls the cloud itself).
A mint job runs at most once: a second claim after a crash fails the grant instead of calling
the cloud again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import BrokerError
from cloud_broker.providers.base import IssuedCredential
from cloud_broker.service.deps import Deps, audit
from cloud_broker.service.jobs import (
    Attempt,
    Job,
    JobRunner,
    after_attempt,
    new_job,
    save,
)
from cloud_broker.service.ports import UnitOfWork

MINT = "mint"
# A mint may retry a throttled cloud for a couple of minutes (the AWS provider: six attempts
# with connect and read timeouts and backoff); a claim must outlast that.
MINT_LEASE = timedelta(minutes=5)
INTERRUPTED = "minting was interrupted; no credentials were handed out — request a new grant"


def mint_plan_for(deps: Deps, grant: Grant) -> Any:
    """The provider call for ``grant``, as its family plans it (bounded to the grant's expiry)."""
    return deps.family(grant.family).plan_mint(grant, deps.config, deps.clock())


class Minter:
    """Runs the mint of a grant already committed in ``minting``."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def mint(self, grant: Grant, actor: str) -> tuple[Grant, IssuedCredential | None]:
        """Returns the settled grant (active or failed) and, when active, the credential."""
        try:
            issued = self._deps.provider(grant.family).mint(mint_plan_for(self._deps, grant))
        except BrokerError as exc:  # the cloud refused, the target left, the scope cannot be bounded
            return self._fail(grant, actor, exc.text), None
        return self._activate(grant, actor, issued), issued

    def _activate(self, grant: Grant, actor: str, issued: IssuedCredential) -> Grant:
        now = self._deps.clock()
        expires_at = min(grant.expires_at or issued.cloud_expires_at, issued.cloud_expires_at)
        active = grant.moved_to(GrantStatus.ACTIVE, now, expires_at=expires_at)
        sealed = self._deps.vault.seal(grant.grant_id, issued.to_bytes())
        with self._deps.store.unit_of_work() as uow:
            if not uow.update_grant(active, expected=GrantStatus.MINTING):
                raise RuntimeError(f"grant {grant.grant_id} left minting while being minted")
            uow.put_secret(grant.grant_id, sealed)
            audit(uow, "grant.minted", actor, now, active, decision=active.decision,
                  detail={"expires_at": expires_at.isoformat(), "key_id": sealed.key_id})
        return active

    def _fail(self, grant: Grant, actor: str, why: str) -> Grant:
        now = self._deps.clock()
        failed = grant.moved_to(GrantStatus.FAILED, now, denial_reason=f"minting failed: {why}")
        with self._deps.store.unit_of_work() as uow:
            uow.update_grant(failed, expected=GrantStatus.MINTING)
            audit(uow, "grant.failed", actor, now, failed, reason=failed.denial_reason)
        return failed


class MintJobs:
    """``mint`` jobs: the runner's handler for that kind, and the way approvals enqueue one."""

    lease = MINT_LEASE

    def __init__(self, deps: Deps, minter: Minter, runner: JobRunner) -> None:
        self._deps = deps
        self._minter = minter
        self._runner = runner
        runner.register((MINT,), self)

    def enqueue(self, uow: UnitOfWork, grant: Grant, event_seq: int, actor: str) -> Job:
        """Write the job in the caller's transaction, the one that moved ``grant`` to minting."""
        job = new_job(MINT, grant.grant_id, grant_id=grant.grant_id, event_seq=event_seq,
                      payload={"actor": actor}, now=self._deps.clock())
        return replace(job, id=uow.insert_delivery(job))

    def run_now(self, job: Job) -> None:
        """Mint while the approver waits (this process holds the broker's cloud identity)."""
        self._runner.run_now(job)

    def defer(self, job: Job, now: datetime) -> bool:
        return False

    def attempt(self, job: Job) -> Job:
        with self._deps.store.unit_of_work() as uow:
            grant = uow.find_grant(job.grant_id or "")
        now = self._deps.clock()
        if grant is None or grant.status is not GrantStatus.MINTING:
            return after_attempt(job, Attempt(True, None, None), now)  # settled meanwhile: nothing to do
        if job.attempts > 0:  # an earlier claim got as far as the cloud, then died: never twice
            fail_interrupted(self._deps, grant, "system:jobs")
            return after_attempt(job, Attempt(False, None, INTERRUPTED), now, max_attempts=1)
        save(self._deps, replace(job, attempts=1, updated_at=now))  # started: a second claim must not mint
        minted, _ = self._minter.mint(grant, str(job.payload.get("actor", "system:jobs")))
        started = replace(job, attempts=0)
        return after_attempt(started, Attempt(True, None, minted.denial_reason), self._deps.clock())


def fail_interrupted(deps: Deps, grant: Grant, actor: str, reason: str = INTERRUPTED) -> bool:
    """Settle a ``minting`` grant whose mint will never finish: nothing was handed out. False
    when the grant left ``minting`` meanwhile (someone else settled it)."""
    now = deps.clock()
    failed = grant.moved_to(GrantStatus.FAILED, now, denial_reason=reason)
    with deps.store.unit_of_work() as uow:
        if not uow.update_grant(failed, expected=GrantStatus.MINTING):
            return False
        uow.delete_secret(grant.grant_id)
        audit(uow, "grant.failed", actor, now, failed, reason=reason)
    return True
