"""The cloud-side part of ending a grant: a recorded job, retried until the provider answers.

A release or an approver's revocation commits first (the grant is ``revoked``, its ciphertext
gone), and in the same transaction a ``cloud_revoke`` job is written. The cloud is asked after
the commit: a provider that fails then cannot turn a done revocation into an error, and a
broker that dies in between leaves the job for another process. Whoever asks about the grant
is told truthfully where the cloud side stands — ``revoked_in_cloud`` true, false (the cloud
cannot do it; the detail says what bounds the credentials instead) or ``"pending"`` — and the
outcome is written to the audit trail, which pushes it to the agent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import BrokerError
from cloud_broker.providers.base import RevokeResult
from cloud_broker.service import leases
from cloud_broker.service.deps import Deps, audit
from cloud_broker.service.jobs import (
    DONE,
    FAILED,
    Attempt,
    Job,
    JobRunner,
    after_attempt,
    new_job,
)
from cloud_broker.service.ports import UnitOfWork

log = logging.getLogger(__name__)

CLOUD_REVOKE = "cloud_revoke"
WRITE_LEASE = timedelta(seconds=60)
"""How long one process may hold a target's revocation document (a few IAM calls)."""
BUSY_RETRY = timedelta(seconds=1)
COLLECT_EVERY = timedelta(minutes=10)
EXPIRY_GRACE = timedelta(minutes=5)
"""Past a grant's expiry, for the distance between our clock and the cloud's."""
UNTIL_EXPIRY = 1_000_000  # attempts: in effect, until the grant's credentials have expired
PENDING_DETAIL = "the broker is asking the cloud to revoke the credentials and will retry until it answers"


@dataclass(frozen=True)
class CloudRevocation:
    """Where the cloud side of a revocation stands, as the wire says it."""

    revoked_in_cloud: bool | Literal["pending"]
    detail: str

    def wire(self) -> dict[str, Any]:
        return {"revoked_in_cloud": self.revoked_in_cloud, "cloud_revocation": self.detail}


class Revocations:
    """Enqueues, runs and reports ``cloud_revoke`` jobs; the runner's handler for that kind."""

    def __init__(self, deps: Deps, runner: JobRunner) -> None:
        self._deps = deps
        self._runner = runner
        runner.register((CLOUD_REVOKE,), self)

    def enqueue(self, uow: UnitOfWork, grant: Grant, event_seq: int, actor: str, *,
                kill_switch: bool = False) -> Job:
        """Write the job in the caller's transaction, the one that revokes ``grant``."""
        job = revoke_job(grant, event_seq, actor, self._deps.clock(), kill_switch=kill_switch)
        job_id = uow.insert_delivery(job)
        return replace(job, id=job_id)

    def run_now(self, job: Job) -> CloudRevocation:
        """One attempt while the caller waits; a failure leaves the job to be retried."""
        done = self._runner.run_now(job)
        return state_of(done or job)

    def state(self, grant_id: str) -> CloudRevocation | None:
        """Where the grant's cloud revocation stands; None when it never had one (a withdrawn
        request, an expired grant)."""
        with self._deps.store.reading() as uow:
            jobs = uow.list_deliveries(grant_id=grant_id, kinds=(CLOUD_REVOKE,))
        return state_of(jobs[-1]) if jobs else None

    # --- the job handler -------------------------------------------------------------------

    def defer(self, job: Job, now: datetime) -> bool:
        return False

    def attempt(self, job: Job) -> Job:
        with self._deps.store.reading() as uow:
            grant = uow.get_grant(job.grant_id or "")
        now = self._deps.clock()
        lease = TargetLease.take(self._deps, grant.family, grant.target, now)
        if lease is None:  # another process is writing this target's revocations: not a failure
            return replace(job, next_attempt_at=now + BUSY_RETRY, updated_at=now)
        try:
            result = self._revoke(grant, now, bool(job.payload.get("kill_switch")), lease)
        except BrokerError as exc:
            return self._failed(job, grant, exc.text)
        except Exception as exc:  # noqa: BLE001 - whatever broke, it is recorded, retried and audited
            return self._failed(job, grant, f"internal error: {type(exc).__name__}")
        finally:
            lease.release()
        outcome = {"revoked_in_cloud": result.revoked_in_cloud, "detail": result.detail}
        done = replace(after_attempt(job, Attempt(True), self._deps.clock()), payload={**job.payload, **outcome})
        self._record(grant, job, "grant.cloud_revocation", outcome)
        if result.collateral_before is not None:
            self._record_collateral(grant, result.collateral_before, result.detail)
        return done

    def _revoke(self, grant: Grant, now: datetime, kill_switch: bool, lease: TargetLease) -> RevokeResult:
        if grant.expires_at is None:
            raise ValueError("a grant without an expiry never held credentials")
        plan = self._deps.family(grant.family).plan_revoke(grant, self._deps.config, now, kill_switch)
        return self._deps.provider(grant.family).revoke(plan, lease.fence)

    def _record_collateral(self, revoked: Grant, before: datetime, detail: str) -> None:
        """Say, on every live grant the fallback also cut off, that the cloud now refuses it."""
        with self._deps.store.unit_of_work() as uow:
            live = [g for g in uow.list_grants(statuses=(GrantStatus.ACTIVE,), limit=10_000)
                    # an active grant's last change is its mint: minted before the bound, cut off by it
                    if g.family == revoked.family and g.target == revoked.target and g.updated_at < before]
            for grant in live:
                audit(uow, "grant.cloud_revoked_collaterally", "system:jobs", self._deps.clock(), grant,
                      reason=f"revoking grant {revoked.grant_id} in the cloud also cut off this grant's "
                             f"credentials: {detail}", detail={"revoked_in_cloud": True, "by_grant": revoked.grant_id})

    # --- the collector -----------------------------------------------------------------------

    def collect(self, *, force: bool = False) -> int:
        """Drop revocation state every target no longer needs; at most once per
        ``COLLECT_EVERY`` across all processes (``force``: now). Returns the entries removed."""
        removed = 0
        for name in self._deps.families:
            family = self._deps.family(name)
            for target in family.targets(self._deps.config):
                gate = f"collect:{name}:{target.target}"
                if not force and leases.acquire(self._deps.store, gate, self._deps.clock(), COLLECT_EVERY) is None:
                    continue
                removed += self._collect_one(name, target.target)
        return removed

    def _collect_one(self, family_name: str, target: str) -> int:
        now = self._deps.clock()  # read per target: an earlier slow one must not stale the lease
        lease = TargetLease.take(self._deps, family_name, target, now)
        if lease is None:
            return 0
        try:
            plan = self._deps.family(family_name).plan_collect(self._deps.config, target, now)
            return 0 if plan is None else self._deps.provider(family_name).collect(plan, lease.fence)
        except Exception as exc:  # noqa: BLE001 - a target that cannot be cleaned now is retried later
            log.warning("collecting %s revocations of %s failed: %s", family_name, target,
                        exc.text if isinstance(exc, BrokerError) else type(exc).__name__)
            return 0
        finally:
            lease.release()

    def _failed(self, job: Job, grant: Grant, error: str) -> Job:
        """Retried (backing off to every 5 minutes) for as long as the credentials could still be
        used; given up only once they have expired anyway."""
        now = self._deps.clock()
        usable = grant.expires_at is not None and now <= grant.expires_at + EXPIRY_GRACE
        failed = after_attempt(job, Attempt(False, None, error), now,
                               max_attempts=UNTIL_EXPIRY if usable else job.attempts + 1)
        if failed.status == FAILED:
            self._record(grant, job, "grant.cloud_revocation_failed",
                         {"revoked_in_cloud": False, "detail": f"gave up after {failed.attempts} attempts: {error}"})
        return failed

    def _record(self, grant: Grant, job: Job, event: str, outcome: dict[str, Any]) -> None:
        with self._deps.store.unit_of_work() as uow:
            audit(uow, event, str(job.payload.get("actor", "system:jobs")), self._deps.clock(), grant,
                  reason=outcome["detail"], detail=outcome)


def state_of(job: Job) -> CloudRevocation:
    """What a ``cloud_revoke`` job says of the cloud side, whatever its status."""
    if job.status == DONE:
        revoked = job.payload.get("revoked_in_cloud")
        return CloudRevocation(revoked is True, str(job.payload.get("detail", "")))
    if job.status == FAILED:
        return CloudRevocation(False, f"revoking the credentials in the cloud failed after {job.attempts} attempts "
                                      f"(last error: {job.last_error}); they stop working at the grant's expiry")
    return CloudRevocation("pending", PENDING_DETAIL + (f" (last error: {job.last_error})" if job.last_error else ""))


class TargetLease:
    """This process's exclusive right to write one target's revocation state in the cloud."""

    def __init__(self, deps: Deps, name: str, token: int) -> None:
        self._deps, self._name, self._token = deps, name, token

    @classmethod
    def take(cls, deps: Deps, family: str, target: str, now: datetime) -> TargetLease | None:
        name = f"revoke:{family}:{target}"
        token = leases.acquire(deps.store, name, now, WRITE_LEASE)
        return None if token is None else cls(deps, name, token)

    def fence(self) -> bool:
        """Renew the lease right before a write; False when it was lost (it ran out and another
        process took it): then nothing may be written."""
        renewed = leases.renew(self._deps.store, self._name, self._token, self._deps.clock(), WRITE_LEASE)
        if renewed is None:
            return False
        self._token = renewed
        return True

    def release(self) -> None:
        leases.release(self._deps.store, self._name, self._token)


def revoke_job(grant: Grant, event_seq: int, actor: str, now: datetime, *, kill_switch: bool = False) -> Job:
    """The ``cloud_revoke`` job for ``grant``, to insert in the transaction that ends it."""
    payload: dict[str, Any] = {"actor": actor, **({"kill_switch": True} if kill_switch else {})}
    return new_job(CLOUD_REVOKE, grant.grant_id, grant_id=grant.grant_id, event_seq=event_seq,
                   payload=payload, now=now)
