"""The broker's adapters with the metrics' wrappers around them."""

from __future__ import annotations

from dataclasses import replace

from cloud_broker.observability.metrics import BrokerMetrics
from cloud_broker.observability.observed_family import ObservedFamily
from cloud_broker.observability.observed_provider import ObservedProvider
from cloud_broker.observability.observed_store import ObservedStore
from cloud_broker.plugins import Families
from cloud_broker.service.deps import Deps


def observed(deps: Deps, metrics: BrokerMetrics) -> Deps:
    """``deps`` whose store, providers and families feed ``metrics``."""
    return replace(
        deps,
        store=ObservedStore(deps.store, metrics),
        providers={name: ObservedProvider(provider, name, metrics) for name, provider in deps.providers.items()},
        families=Families({name: ObservedFamily(family, metrics) for name, family in deps.families.items()}),
    )
