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

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from cloud_broker.domain.grants import Grant
from cloud_broker.errors import BrokerError
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

CLOUD_REVOKE = "cloud_revoke"
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

    def enqueue(self, uow: UnitOfWork, grant: Grant, event_seq: int, actor: str) -> Job:
        """Write the job in the caller's transaction, the one that revokes ``grant``."""
        job = new_job(CLOUD_REVOKE, grant.grant_id, grant_id=grant.grant_id, event_seq=event_seq,
                      payload={"actor": actor}, now=self._deps.clock())
        job_id = uow.insert_delivery(job)
        return replace(job, id=job_id)

    def run_now(self, job: Job) -> CloudRevocation:
        """One attempt while the caller waits; a failure leaves the job to be retried."""
        done = self._runner.run_now(job)
        return state_of(done or job)

    def state(self, grant_id: str) -> CloudRevocation | None:
        """Where the grant's cloud revocation stands; None when it never had one (a withdrawn
        request, an expired grant)."""
        with self._deps.store.unit_of_work() as uow:
            jobs = uow.list_deliveries(grant_id=grant_id, kinds=(CLOUD_REVOKE,))
        return state_of(jobs[-1]) if jobs else None

    # --- the job handler -------------------------------------------------------------------

    def defer(self, job: Job, now: datetime) -> bool:
        return False

    def attempt(self, job: Job) -> Job:
        with self._deps.store.unit_of_work() as uow:
            grant = uow.get_grant(job.grant_id or "")
        try:
            if grant.expires_at is None:
                raise ValueError("a grant without an expiry never held credentials")
            plan = self._deps.family(grant.family).plan_revoke(grant, self._deps.config, self._deps.clock(),
                                                                kill_switch=bool(job.payload.get("kill_switch")))
            result = self._deps.provider(grant.family).revoke(plan)
        except BrokerError as exc:
            return self._failed(job, grant, exc.text)
        except Exception as exc:  # noqa: BLE001 - whatever broke, it is recorded, retried and audited
            return self._failed(job, grant, f"internal error: {type(exc).__name__}")
        outcome = {"revoked_in_cloud": result.revoked_in_cloud, "detail": result.detail}
        done = replace(after_attempt(job, Attempt(True), self._deps.clock()), payload={**job.payload, **outcome})
        self._record(grant, job, "grant.cloud_revocation", outcome)
        return done

    def _failed(self, job: Job, grant: Grant, error: str) -> Job:
        failed = after_attempt(job, Attempt(False, None, error), self._deps.clock())
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
