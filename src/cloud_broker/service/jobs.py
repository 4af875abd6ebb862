"""One durable job mechanism for everything the broker owes the outside world.

A Slack card, a webhook, the agent's push, a mint an approver ordered, a revocation in the
cloud: each is a row written in the same transaction as the change that calls for it, so it
exists exactly when that change committed. Any broker process on the same store may run it:
a due row is first *claimed* by a compare-and-swap that moves its retry time out by a lease,
so exactly one process attempts it, and one that dies mid-attempt leaves it to be retried once
the lease runs out. Failures are retried with exponential backoff until a kind's attempts are
spent. The rows are the log an operator reads (``cloud-broker jobs``).

Each kind has a :class:`JobHandler`. Handlers live where their knowledge lives (``notify`` for
messages, ``service`` for mints and revocations) and are registered with one :class:`JobRunner`
per process; a process only claims kinds it has a handler for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from cloud_broker.service.deps import Deps
from cloud_broker.service.ports import Delivery

log = logging.getLogger(__name__)

Job = Delivery
"""A job is a row of the outbox table; the name ``Delivery`` is what messages called it first."""

# Statuses. "delivered" predates the other kinds; for a job it means done.
PENDING = "pending"
DONE = "delivered"
FAILED = "failed"
RECORDED = "recorded"  # bookkeeping: nothing to run

MAX_ATTEMPTS = 8
FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=5)
# How far a claim moves a row's retry time: exactly one process attempts it meanwhile, and a
# process that dies mid-attempt leaves it to be retried once the lease has run out.
LEASE = timedelta(seconds=60)
ERROR_LIMIT = 200
DUE_BATCH = 50


@dataclass(frozen=True)
class Attempt:
    """What one attempt achieved; ``error`` is safe to store (no secret, no URL)."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


class JobHandler(Protocol):
    """Runs the jobs of some kinds. The contract the runner relies on:"""

    def attempt(self, job: Job) -> Job:
        """Make one attempt at a claimed ``job`` and return the row as it must be stored (done,
        pending with a retry time, or failed; ``after_attempt`` computes it). May raise: the
        runner then records a failed attempt with the usual backoff."""
        ...

    def defer(self, job: Job, now: datetime) -> bool:
        """True to leave a due ``job`` to another process for now: this one lacks what it needs
        (a secret, the Slack bot) that a process such as ``serve`` may hold."""
        ...


def lease_of(handler: JobHandler) -> timedelta:
    """How long a claim of the handler's jobs holds: its ``lease`` attribute, else ``LEASE``. A
    handler whose attempt can take longer (a mint retrying a throttled STS) declares a longer
    one, or a slow but successful attempt would be taken for a dead one."""
    lease = getattr(handler, "lease", LEASE)
    return lease if isinstance(lease, timedelta) else LEASE


def retry_delay(attempts: int, max_attempts: int = MAX_ATTEMPTS) -> timedelta | None:
    """Wait after the ``attempts``-th failure: 1 s, 2 s, 4 s … capped at 5 min; None when spent."""
    if attempts >= max_attempts:
        return None
    return min(FIRST_DELAY * (2 ** (attempts - 1)), MAX_DELAY)


def after_attempt(job: Job, attempt: Attempt, now: datetime, max_attempts: int = MAX_ATTEMPTS) -> Job:
    """The row once ``attempt`` was made: done, pending with a retry time, or failed."""
    attempts = job.attempts + 1
    if attempt.ok:
        return replace(job, status=DONE, attempts=attempts, next_attempt_at=None, last_error=None,
                       response_status=attempt.status_code, updated_at=now)
    delay = retry_delay(attempts, max_attempts)
    return replace(job, status=PENDING if delay else FAILED, attempts=attempts,
                   next_attempt_at=now + delay if delay else None, last_error=_trimmed(attempt.error),
                   response_status=attempt.status_code, updated_at=now)


def given_up(job: Job, error: str, now: datetime) -> Job:
    """A job that cannot be attempted at all (its target is gone): no retry helps."""
    return replace(job, status=FAILED, next_attempt_at=None, last_error=_trimmed(error), updated_at=now)


def new_job(kind: str, target: str, *, grant_id: str | None, event_seq: int, payload: dict[str, Any],
            now: datetime, due: datetime | None = None) -> Job:
    """A pending job, due at ``due`` (now by default). ``event_seq``, ``kind`` and ``target``
    make it unique: enqueuing the same job twice adds nothing."""
    return Delivery(grant_id, event_seq, kind, target, PENDING, 0, payload, now, now,
                    next_attempt_at=due or now)


def save(deps: Deps, job: Job) -> None:
    with deps.store.unit_of_work() as uow:
        uow.update_delivery(job)


class JobRunner:
    """Claims and runs due jobs of the kinds it has handlers for."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._handlers: dict[str, JobHandler] = {}

    def register(self, kinds: Iterable[str], handler: JobHandler) -> None:
        for kind in kinds:
            self._handlers[kind] = handler

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def run_due(self) -> int:
        """Attempt every due job this process wins; returns the attempts made."""
        now = self._deps.clock()
        with self._deps.store.unit_of_work() as uow:
            due = uow.due_deliveries(now, limit=DUE_BATCH, kinds=self.kinds)
        attempts = 0
        for job in due:
            handler = self._handlers[job.kind]
            if _deferrable(job, now) and handler.defer(job, now):
                continue
            claimed = self.claim(job, now, lease_of(handler))
            if claimed is not None:
                attempts += self._run(claimed, handler).attempts - claimed.attempts
        return attempts

    def run_now(self, job: Job) -> Job | None:
        """Claim ``job`` and attempt it at once (the first attempt, made while someone waits);
        None when another process holds it."""
        handler = self._handlers[job.kind]
        claimed = self.claim(job, self._deps.clock(), lease_of(handler))
        return None if claimed is None else self._run(claimed, handler)

    def claim(self, job: Job, now: datetime, lease: timedelta = LEASE) -> Job | None:
        """The row as stored once this process holds its lease, or None when another process
        claimed or settled it first. Outcomes are written from this copy only, never from a
        list read earlier, so a stale snapshot cannot overwrite a settled row."""
        if job.id is None or job.next_attempt_at is None:
            return None
        lease_until = now + lease
        with self._deps.store.unit_of_work() as uow:
            if not uow.claim_delivery(job.id, job.next_attempt_at, lease_until):
                return None
            stored = uow.find_delivery(job.id)
        return stored or replace(job, next_attempt_at=lease_until)

    def _run(self, job: Job, handler: JobHandler) -> Job:
        """Attempt a claimed job and store the outcome; never raises."""
        try:
            updated = handler.attempt(job)
        except Exception as exc:  # noqa: BLE001 - one broken job must not stop the others
            log.error("%s job #%s failed: %s", job.kind, job.id, type(exc).__name__)
            updated = after_attempt(job, Attempt(False, None, f"internal error: {type(exc).__name__}"),
                                    self._deps.clock())
        save(self._deps, updated)
        return updated


# A process lacking what a job needs leaves it this long after it fell due to one that has it;
# only then does it record a failed attempt of its own.
HANDOFF = timedelta(seconds=10)


def _deferrable(job: Job, now: datetime) -> bool:
    return job.next_attempt_at is not None and now - job.next_attempt_at < HANDOFF


def _trimmed(error: str | None) -> str | None:
    if error is None or len(error) <= ERROR_LIMIT:
        return error
    return error[: ERROR_LIMIT - 1] + "…"
