"""What an agent asks of GCP, after wire validation and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cloud_broker.domain.requests import DEFAULT_TTL, AccessRequest


@dataclass(frozen=True)
class GcpAccessRequest:
    """Permissions (names or patterns) on resources (full names or patterns), for a lifetime."""

    project_id: str
    permissions: tuple[str, ...]
    resources: tuple[str, ...]
    ttl: timedelta = DEFAULT_TTL

    @classmethod
    def of(cls, request: AccessRequest) -> GcpAccessRequest:
        scope = request.scope
        return cls(request.target, tuple(scope["permissions"]), tuple(scope["resources"]), request.ttl)

    def generic(self) -> AccessRequest:
        return AccessRequest("gcp", self.project_id, {"permissions": self.permissions, "resources": self.resources},
                             self.ttl)
