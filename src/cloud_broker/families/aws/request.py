"""What an agent asks of AWS, after wire validation and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cloud_broker.domain.requests import DEFAULT_TTL, AccessRequest


@dataclass(frozen=True)
class AwsAccessRequest:
    """A request for AWS access: the (action × resource) pairs, the regions and the lifetime.

    Actions and resources may be IAM patterns (``s3:Get*``, ``arn:aws:s3:::reports/*``);
    the policy engine decides what they can match.
    """

    account_id: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    regions: tuple[str, ...]
    ttl: timedelta = DEFAULT_TTL

    @classmethod
    def of(cls, request: AccessRequest) -> AwsAccessRequest:
        """The AWS reading of a family-neutral request (or of a stored grant's scope)."""
        scope = request.scope
        return cls(request.target, tuple(scope["actions"]), tuple(scope["resources"]), tuple(scope["regions"]),
                   request.ttl)

    def generic(self) -> AccessRequest:
        return AccessRequest("aws", self.account_id, {"actions": self.actions, "resources": self.resources,
                                                      "regions": self.regions}, self.ttl)
