"""A provider whose calls are timed and whose failures are counted, by family and operation."""

from __future__ import annotations

import time
from typing import Any

from cloud_broker.errors import ProviderError
from cloud_broker.observability.metrics import BrokerMetrics
from cloud_broker.providers.base import Fence, IssuedCredential, Provider, RevokeResult


class ObservedProvider:
    """``inner``, with ``mint`` timed and every failure of a call counted (throttles apart)."""

    def __init__(self, inner: Provider, family: str, metrics: BrokerMetrics) -> None:
        self._inner, self._family, self._metrics = inner, family, metrics
        self.name = family

    def mint(self, plan: Any) -> IssuedCredential:
        started = time.perf_counter()
        ok = False
        try:
            issued = self._counted("mint", self._inner.mint, plan)
            ok = True
            return issued
        finally:
            self._metrics.record_mint(self._family, ok, time.perf_counter() - started)

    def revoke(self, plan: Any, fence: Fence) -> RevokeResult:
        return self._counted("revoke", self._inner.revoke, plan, fence)  # type: ignore[no-any-return]

    def collect(self, plan: Any, fence: Fence) -> int:
        return self._counted("collect", self._inner.collect, plan, fence)  # type: ignore[no-any-return]

    def _counted(self, operation: str, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except ProviderError as exc:
            self._metrics.record_provider_error(self._family, operation, retryable=exc.retryable,
                                                throttled=exc.throttled)
            raise
        except Exception:
            self._metrics.record_provider_error(self._family, operation, retryable=False, throttled=False)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
