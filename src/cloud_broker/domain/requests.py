"""What an agent asks for, after wire validation and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DEFAULT_TTL = timedelta(seconds=900)
MIN_TTL = timedelta(seconds=300)
MAX_TTL = timedelta(seconds=3600)


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
