"""What an agent asks of a cloud, in the shape every family shares, and the contract's TTLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cloud_broker.domain.scope import Scope

DEFAULT_TTL = timedelta(seconds=900)
MIN_TTL = timedelta(seconds=300)
MAX_TTL = timedelta(seconds=3600)


@dataclass(frozen=True)
class AccessRequest:
    """A request after wire validation and defaults: which family, on which target (an AWS
    account, a GCP project), the family's scope document, and the lifetime. Patterns in the
    scope are the family's to interpret; the shared layers only store and compare them."""

    family: str
    target: str
    scope: Scope
    ttl: timedelta = DEFAULT_TTL
