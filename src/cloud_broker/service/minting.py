"""Turning an approved grant into credentials: intent first, then the cloud, then the vault.

The ``minting`` row is committed before the cloud is called, naming the process that mints it.
If the broker dies after the cloud answered but before the ciphertext is stored, the row stays
``minting``; once that process is gone the sweeper settles it as ``failed`` and revokes whatever
the cloud issued (``service.orphans``). If the store refuses the commit while the process lives,
the caller gets a 503 naming the grant, and the same settlement follows once the store accepts
writes again. Either way the credentials were never handed to anyone.

An approval is a ``mint`` job (``service.jobs``) written with it: the broker process runs it,
with the broker's cloud identity, whoever approved and from wherever (the console, Slack, or
``cloud-broker approve`` in an approver's own shell, which never calls the cloud itself).
A mint job runs at most once: a second claim after a crash fails the grant instead of calling
the cloud again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cloud_broker import failpoints
from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import BrokerError, Conflict, Unavailable
from cloud_broker.providers.base import IssuedCredential
from cloud_broker.service.deps import Deps, audit
from cloud_broker.service.jobs import (
    RECORDED,
    Attempt,
    Job,
    JobRunner,
    after_attempt,
    new_job,
    save,
)
from cloud_broker.service.orphans import Orphans
from cloud_broker.service.ports import UnitOfWork
from cloud_broker.service.revocation import CLOUD_REVOKE, revoke_job

log = logging.getLogger(__name__)

MINT = "mint"
MINT_INTENT = "mint_intent"
"""Bookkeeping, never run: which process mints a grant inline."""
INSTANCE = "instance"
# A mint may retry a throttled cloud for a couple of minutes (the AWS provider: six attempts
# with connect and read timeouts and backoff); a claim must outlast that.
MINT_LEASE = timedelta(minutes=5)
INTERRUPTED = "minting was interrupted; no credentials were handed out — request a new grant"


def mint_plan_for(deps: Deps, grant: Grant) -> Any:
    """The provider call for ``grant``, as its family plans it (bounded to the grant's expiry)."""
    return deps.family(grant.family).plan_mint(grant, deps.config, deps.clock())


@dataclass(frozen=True)
class Minted:
    """A mint's outcome: the settled grant (active or failed), the credential when active, and
    how long the provider's call took, answer or refusal (the broker's own time is the rest)."""

    grant: Grant
    credential: IssuedCredential | None
    provider_time: timedelta


class Minter:
    """Runs the mint of a grant already committed in ``minting``."""

    def __init__(self, deps: Deps, orphans: Orphans) -> None:
        self._deps = deps
        self._orphans = orphans

    def mint(self, grant: Grant, actor: str) -> Minted:
        """Settles the grant (active or failed). Raises ``Unavailable`` naming the grant when the
        cloud issued credentials the store would not record: they are revoked once it does."""
        started: float | None = None  # set as the provider is called
        try:
            provider = self._deps.provider(grant.family)
            plan = mint_plan_for(self._deps, grant)
            started = time.perf_counter()
            issued = provider.mint(plan)
        except BrokerError as exc:  # the cloud refused, the target left, the scope cannot be bounded
            return Minted(self._fail(grant, actor, exc.text), None, _since(started))
        took = _since(started)
        failpoints.hit(failpoints.AFTER_CLOUD_MINT)
        try:
            return Minted(self._activate(grant, actor, issued), issued, took)
        except LeftMinting:
            self._revoke_discarded(grant, actor)
            raise Conflict(f"grant {grant.grant_id} was settled while it was being minted (its minting process "
                           "was taken for dead); no credentials were handed out — request a new grant",
                           code="MINT_INTERRUPTED") from None
        except Exception as exc:  # noqa: BLE001 - the store failed: the credentials must not outlive this
            self._orphans.add(grant)
            log.error("grant %s: the cloud issued credentials the store would not record (%s); revoking them "
                      "once it accepts writes", grant.grant_id, type(exc).__name__)
            raise Unavailable(f"the broker could not record grant {grant.grant_id}; no credentials were handed out "
                              "and the cloud's are being revoked — request a new grant once the broker "
                              "recovers", grant_id=grant.grant_id) from None

    def _revoke_discarded(self, grant: Grant, actor: str) -> None:
        """The cloud issued credentials for a grant someone settled meanwhile (a kill switch, a
        sweeper that took this process for dead): make sure the cloud is asked to refuse them."""
        now = self._deps.clock()
        with self._deps.store.unit_of_work() as uow:
            if uow.list_deliveries(grant_id=grant.grant_id, kinds=(CLOUD_REVOKE,)):
                return  # whoever settled it already wrote the revocation
            settled = uow.get_grant(grant.grant_id)
            seq = audit(uow, "grant.mint_discarded", actor, now, settled,
                        reason="the cloud issued credentials after the grant was settled; they are revoked there")
            uow.insert_delivery(revoke_job(settled, seq, actor, now))

    def _activate(self, grant: Grant, actor: str, issued: IssuedCredential) -> Grant:
        now = self._deps.clock()
        expires_at = min(grant.expires_at or issued.cloud_expires_at, issued.cloud_expires_at)
        active = grant.moved_to(GrantStatus.ACTIVE, now, expires_at=expires_at)
        sealed = self._deps.vault.seal(grant.grant_id, issued.to_bytes())
        with self._deps.store.unit_of_work() as uow:
            if not uow.update_grant(active, expected=GrantStatus.MINTING):
                raise LeftMinting(grant.grant_id)
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


class LeftMinting(Exception):
    """Someone settled the grant while this process was minting it."""


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
        with self._deps.store.reading() as uow:
            grant = uow.find_grant(job.grant_id or "")
        now = self._deps.clock()
        if grant is None or grant.status is not GrantStatus.MINTING:
            return after_attempt(job, Attempt(True, None, None), now)  # settled meanwhile: nothing to do
        if job.attempts > 0:  # an earlier claim got as far as the cloud, then died: never twice
            fail_interrupted(self._deps, grant, "system:jobs", revoke_in_cloud=True)
            return after_attempt(job, Attempt(False, None, INTERRUPTED), now, max_attempts=1)
        # Started: a second claim must not mint, and a sweeper can tell whether this process lives.
        save(self._deps, replace(job, attempts=1, updated_at=now, payload={**job.payload, INSTANCE: self._deps.instance}))
        try:
            minted = self._minter.mint(grant, str(job.payload.get("actor", "system:jobs"))).grant
        except BrokerError as exc:  # recorded as an orphan, or settled by someone else: done here
            return after_attempt(replace(job, attempts=0), Attempt(True, None, exc.text), self._deps.clock())
        started = replace(job, attempts=0)
        return after_attempt(started, Attempt(True, None, minted.denial_reason), self._deps.clock())


def _since(started: float | None) -> timedelta:
    """Time since ``started``; none at all when the provider was never called."""
    return timedelta(0) if started is None else timedelta(seconds=time.perf_counter() - started)


def fail_interrupted(deps: Deps, grant: Grant, actor: str, reason: str = INTERRUPTED, *,
                     revoke_in_cloud: bool = False, kill_switch: bool = False) -> bool:
    """Settle a ``minting`` grant whose mint will never finish: nothing was handed out. With
    ``revoke_in_cloud`` (the mint may have reached the cloud), a ``cloud_revoke`` job is written
    with it. False when the grant left ``minting`` meanwhile (someone else settled it)."""
    now = deps.clock()
    failed = grant.moved_to(GrantStatus.FAILED, now, denial_reason=reason)
    with deps.store.unit_of_work() as uow:
        if not uow.update_grant(failed, expected=GrantStatus.MINTING):
            return False
        uow.delete_secret(grant.grant_id)
        seq = audit(uow, "grant.failed", actor, now, failed, reason=reason)
        if revoke_in_cloud:
            uow.insert_delivery(revoke_job(failed, seq, actor, now, kill_switch=kill_switch))
    return True


def record_intent(uow: UnitOfWork, deps: Deps, grant: Grant, event_seq: int) -> None:
    """Name this process on a grant it is about to mint inline (``service.orphans``)."""
    job = new_job(MINT_INTENT, grant.grant_id, grant_id=grant.grant_id, event_seq=event_seq,
                  payload={INSTANCE: deps.instance}, now=deps.clock())
    uow.insert_fresh_delivery(replace(job, status=RECORDED, next_attempt_at=None))  # event_seq is new
