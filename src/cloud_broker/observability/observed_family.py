"""A family whose policy decisions are timed; everything else is the family itself."""

from __future__ import annotations

import time
from typing import Any

from cloud_broker.observability.metrics import BrokerMetrics


class ObservedFamily:
    """``inner`` with ``decide`` timed into ``cloud_broker_decision_seconds``."""

    def __init__(self, inner: Any, metrics: BrokerMetrics) -> None:
        self._inner, self._metrics = inner, metrics
        self.name: str = inner.name

    def decide(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        decision = self._inner.decide(*args, **kwargs)
        self._metrics.record_decision(self.name, decision.outcome.value, time.perf_counter() - started)
        return decision

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
