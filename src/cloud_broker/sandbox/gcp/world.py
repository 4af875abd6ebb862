"""Everything the double knows about its one project, passed to every handler.

There are no globals: each running double owns one ``World``, so two doubles in one
process never share tokens, policies or objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud_broker.sandbox.gcp.bucket_store import BucketStore
from cloud_broker.sandbox.gcp.clock import Clock
from cloud_broker.sandbox.gcp.iam_policy import IamPolicies
from cloud_broker.sandbox.gcp.service_accounts import ServiceAccounts
from cloud_broker.sandbox.gcp.tokens import TokenRegistry

DEFAULT_MAX_LIFETIME_SECONDS = 3600
EXTENDED_MAX_LIFETIME_SECONDS = 43200


@dataclass
class World:
    """One project: its service accounts (and which are disabled), allow policies, buckets and live tokens.

    ``lifetime_extension`` models the organisation policy
    ``constraints/iam.allowServiceAccountCredentialLifetimeExtension`` listing every
    service account of the project: with it, generateAccessToken accepts lifetimes up to
    12 hours instead of 1. It is the only organisation policy the double knows.
    """

    project_id: str
    project_number: str
    clock: Clock
    lifetime_extension: bool = False
    service_accounts: ServiceAccounts = field(default_factory=ServiceAccounts)
    policies: IamPolicies = field(init=False)
    buckets: BucketStore = field(init=False)
    tokens: TokenRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.policies = IamPolicies(self.project_id)
        self.buckets = BucketStore(self.clock)
        # A token stops working while its service account is disabled, and works again once
        # enabled (until it expires), as Google documents for disable and enable.
        self.tokens = TokenRegistry(self.clock, disabled=self.service_accounts.is_disabled)

    @property
    def max_lifetime_seconds(self) -> int:
        return EXTENDED_MAX_LIFETIME_SECONDS if self.lifetime_extension else DEFAULT_MAX_LIFETIME_SECONDS

    def service_account_resource(self, email: str) -> str:
        return f"projects/{self.project_id}/serviceAccounts/{email}"
