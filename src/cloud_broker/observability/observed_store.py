"""A store that counts grant transitions and job failures as they commit.

A wrapper around any ``GrantStore`` (the way a cache wraps a provider) rather than calls
sprinkled through the use-cases: every status change goes through ``insert_grant`` or a
successful ``update_grant``, and every job outcome through ``update_delivery``, so nothing the
service adds later escapes the count. What a unit of work saw is counted only once it
committed: a rolled-back transition never happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.observability.metrics import BrokerMetrics
from cloud_broker.service.jobs import FAILED, PENDING
from cloud_broker.service.ports import Delivery, GrantStore, UnitOfWork

Note = Callable[[], None]


class ObservedStore:
    """``inner`` with its commits counted into ``metrics``; anything else passes through."""

    def __init__(self, inner: GrantStore, metrics: BrokerMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        notes: list[Note] = []
        with self._inner.unit_of_work() as uow:
            yield ObservedUnitOfWork(uow, self._metrics, notes)  # type: ignore[misc]
        for note in notes:  # reached only once the inner unit of work committed
            note()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ObservedUnitOfWork:
    """Records what the metrics must count; ``ObservedStore`` counts it after the commit."""

    def __init__(self, inner: UnitOfWork, metrics: BrokerMetrics, notes: list[Note]) -> None:
        self._inner, self._metrics, self._notes = inner, metrics, notes

    def insert_grant(self, grant: Grant) -> None:
        self._inner.insert_grant(grant)
        self._notes.append(lambda: self._metrics.record_grant_status(grant.family, grant.decision, grant.status.value))

    def update_grant(self, grant: Grant, *, expected: GrantStatus, revision: int | None = None) -> bool:
        written = self._inner.update_grant(grant, expected=expected, revision=revision)
        if written and grant.status is not expected:
            self._notes.append(lambda: self._grant_moved(grant, expected))
        return written

    def update_delivery(self, delivery: Delivery) -> None:
        self._inner.update_delivery(delivery)
        failed = delivery.status == FAILED
        if failed or (delivery.status == PENDING and delivery.last_error is not None and delivery.attempts > 0):
            self._notes.append(lambda: self._metrics.record_job_failure(delivery.kind, final=failed))

    def _grant_moved(self, grant: Grant, before: GrantStatus) -> None:
        self._metrics.record_grant_status(grant.family, grant.decision, grant.status.value)
        if before is GrantStatus.PENDING:
            self._metrics.record_approval_wait(grant.family, grant.status.value, grant.updated_at - grant.created_at)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
