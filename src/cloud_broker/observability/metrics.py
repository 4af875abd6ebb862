"""The broker's Prometheus metrics, in a registry of their own.

One :class:`BrokerMetrics` per app (never the client library's global registry): a process, or
a test session, may build many apps, and each counts only its own broker. Counters count what
*this process* did; grants another process moved (``cloud-broker approve`` in a shell) are
counted by the process that minted them, or by none. Gauges of the store's state are read at
scrape time (``observability.scrape``), so every process reports the same queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from cloud_broker.observability.labels import OPERATIONS, Labels
from cloud_broker.observability.scrape import ScrapeGauges

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DECISION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0, 86400.0)
MINT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class BrokerMetrics:
    """Every metric ``/metrics`` shows; the wrappers of this package call the ``record_*`` methods."""

    def __init__(self, families: Iterable[str]) -> None:
        self.labels = Labels(families)
        self.registry = CollectorRegistry()
        r = self.registry
        self.grants = Counter("cloud_broker_grants", "Grants that entered a status, by the engine's outcome",
                              ["family", "outcome", "status"], registry=r)
        self.decision = Histogram("cloud_broker_decision_seconds", "Time the policy engine took to decide a request",
                                  ["family", "outcome"], buckets=DECISION_BUCKETS, registry=r)
        self.approval_wait = Histogram(
            "cloud_broker_approval_wait_seconds", "Time a grant waited in the approval queue, by how it left it",
            ["family", "status"], buckets=WAIT_BUCKETS, registry=r)
        self.mint = Histogram("cloud_broker_mint_seconds", "Time the cloud took to mint, by result",
                              ["family", "result"], buckets=MINT_BUCKETS, registry=r)
        self.provider_errors = Counter("cloud_broker_provider_errors", "Failed provider calls (throttles included)",
                                       ["family", "operation", "retryable"], registry=r)
        self.provider_throttles = Counter("cloud_broker_provider_throttles",
                                          "Provider calls the cloud throttled (after the SDK's own retries)",
                                          ["family", "operation"], registry=r)
        self.job_attempt_failures = Counter("cloud_broker_job_attempt_failures",
                                            "Failed job attempts that will be retried (deliveries, mints, revocations)",
                                            ["kind"], registry=r)
        self.jobs_failed = Counter("cloud_broker_jobs_failed", "Jobs given up after their last attempt",
                                   ["kind"], registry=r)
        self.scrape = ScrapeGauges(self.labels)
        r.register(self.scrape)
        self._zero_provider_series()

    def _zero_provider_series(self) -> None:
        """Rates of errors read 0, not "no data", before the first one."""
        for family in self.labels.families:
            for operation in OPERATIONS:
                self.provider_throttles.labels(family, operation)
                for retryable in ("true", "false"):
                    self.provider_errors.labels(family, operation, retryable)

    def record_grant_status(self, family: str, outcome: str, status: str) -> None:
        self.grants.labels(self.labels.family(family), self.labels.outcome(outcome), self.labels.status(status)).inc()

    def record_approval_wait(self, family: str, status: str, waited: timedelta) -> None:
        self.approval_wait.labels(self.labels.family(family), self.labels.status(status)).observe(
            max(waited.total_seconds(), 0.0))

    def record_decision(self, family: str, outcome: str, seconds: float) -> None:
        self.decision.labels(self.labels.family(family), self.labels.outcome(outcome)).observe(seconds)

    def record_mint(self, family: str, ok: bool, seconds: float) -> None:
        self.mint.labels(self.labels.family(family), "ok" if ok else "error").observe(seconds)

    def record_provider_error(self, family: str, operation: str, *, retryable: bool, throttled: bool) -> None:
        family = self.labels.family(family)
        self.provider_errors.labels(family, operation, "true" if retryable else "false").inc()
        if throttled:
            self.provider_throttles.labels(family, operation).inc()

    def record_job_failure(self, kind: str, *, final: bool) -> None:
        counter = self.jobs_failed if final else self.job_attempt_failures
        counter.labels(self.labels.job_kind(kind)).inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text format (reading the scrape-time gauges now)."""
        return generate_latest(self.registry)
