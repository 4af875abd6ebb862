"""Gauges read at scrape time: the approval queue in the store, the open event streams.

Read when Prometheus asks rather than kept up to date, so they are right whichever process
changed the store. The queue read is bounded (``QUEUE_SCAN_LIMIT`` rows, by an index); a
store that cannot answer makes ``cloud_broker_store_up`` 0 instead of failing the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cloud_broker.observability.labels import Labels
from cloud_broker.service.ports import PendingQueue

QUEUE_SCAN_LIMIT = 10_000
"""Pending rows read per scrape at most: past it the depth gauge reads this many."""

log = logging.getLogger(__name__)

PendingSource = Callable[[int], list[PendingQueue]]


class ScrapeGauges(Collector):
    """Filled in by the app (``watch``): the store's queue and the app's stream count."""

    def __init__(self, labels: Labels) -> None:
        self._labels = labels
        self._pending: PendingSource | None = None
        self._clock: Callable[[], datetime] | None = None
        self._streams: Callable[[], int] | None = None

    def watch(self, pending: PendingSource, clock: Callable[[], datetime], streams: Callable[[], int]) -> None:
        self._pending, self._clock, self._streams = pending, clock, streams

    def collect(self) -> Iterator[Metric]:
        if self._pending is None or self._clock is None or self._streams is None:
            return
        yield from self._queue(self._pending, self._clock)
        streams = GaugeMetricFamily("cloud_broker_event_streams", "Open event streams (Server-Sent Events)")
        streams.add_metric([], self._streams())
        yield streams

    def _queue(self, pending: PendingSource, clock: Callable[[], datetime]) -> Iterator[Metric]:
        up = GaugeMetricFamily("cloud_broker_store_up", "1 when the store answered the scrape's queue read")
        try:
            rows = pending(QUEUE_SCAN_LIMIT)
        except Exception as exc:  # noqa: BLE001 - a scrape reports the store down, it does not fail
            log.warning("the store did not answer the metrics' queue read (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("cloud_broker_pending_grants", "Grants waiting for an approver", labels=["family"])
        age = GaugeMetricFamily("cloud_broker_pending_oldest_age_seconds",
                                "Age of the oldest grant waiting for an approver", labels=["family"])
        now = clock()
        by_family = {self._labels.family(row.family): row for row in rows}
        for family in sorted({*self._labels.families, *by_family}):
            row = by_family.get(family)
            depth.add_metric([family], row.count if row else 0)
            age.add_metric([family], max((now - row.oldest_created_at).total_seconds(), 0.0) if row else 0.0)
        yield depth
        yield age
