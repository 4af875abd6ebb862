"""What ending a GCP grant in the cloud can mean, planned from the grant and broker.yaml.

Google cannot revoke one access token: a token minted by ``generateAccessToken`` (and its
downscoped copy) works until its lifetime ends. The one thing that stops it sooner is
disabling the service account it was minted as, which stops *every* token of that account —
every other grant of the same ceiling, and of any other ceiling naming the account — and
every mint for it until an operator enables it again. So a plain revocation plans nothing in
the cloud, and only the operator's kill switch plans the disable. The words people read
about either outcome are written here, once, so they say exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cloud_broker.errors import NotFound
from cloud_broker.families.gcp import lookups

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.domain.grants import Grant
    from cloud_broker.families.gcp.config import GcpCeilingConfig


@dataclass(frozen=True)
class GcpRevokePlan:
    grant_id: str
    project_id: str
    team: str
    # The ceiling's account, the one the grant's token was minted as; None once the ceiling
    # left the file (only possible without the kill switch, which needs it).
    service_account: str | None
    expires_at: datetime
    kill_switch: bool
    # Other projects whose ceilings name the same account: the kill switch ends their grants too.
    shared_with: tuple[str, ...] = ()


def plan_revoke(grant: Grant, config: BrokerConfig, kill_switch: bool) -> GcpRevokePlan:
    """Raises NotFound when the kill switch is asked for but the team's ceiling left the file:
    which account minted the token is then unknown, and disabling a guess could cut off others."""
    assert grant.expires_at is not None
    ceiling = lookups.ceiling(config, grant.team, grant.target)
    account = ceiling.service_account if ceiling is not None else None
    if kill_switch and account is None:
        raise NotFound(f"team {grant.team} has no ceiling on GCP project {grant.target} any more: the broker "
                       "cannot tell which service account to disable", code="NO_ENROLMENT")
    return GcpRevokePlan(grant.grant_id, grant.target, grant.team, account, grant.expires_at, kill_switch,
                         _shared_with(config, account, grant.target))


def _shared_with(config: BrokerConfig, account: str | None, project_id: str) -> tuple[str, ...]:
    ceilings: tuple[GcpCeilingConfig, ...] = config.section(lookups.CEILINGS)
    return tuple(sorted({c.project_id for c in ceilings if c.service_account == account and c.project_id != project_id}))


def not_revocable(plan: GcpRevokePlan) -> str:
    """Why a plain revocation leaves the token working, until when, and what would stop it."""
    account = plan.service_account or "the ceiling's service account"
    return ("Google cannot revoke a single access token: the broker no longer hands this one out, and Google "
            f"accepts it until it expires at {_utc(plan.expires_at)}. The operator's kill switch stops it now by "
            f"disabling {account}, which also stops every other token minted as that account")


def disabled(plan: GcpRevokePlan, safe_to_enable_at: datetime) -> str:
    """What disabling the ceiling's account did, to whom, and how (and when) to undo it."""
    account, shared = plan.service_account, plan.shared_with
    others = f" and on {', '.join(shared)} (the same account)" if shared else ""
    return (f"Disabled service account {account} (the kill switch). Google now refuses every access token issued "
            f"as it: this grant's, and every other grant's of team {plan.team}'s ceiling on {plan.project_id}"
            f"{others}. Minting for {'these ceilings' if shared else 'that ceiling'} fails until an operator "
            f"re-enables the account (gcloud iam service-accounts enable {account}); re-enabling makes Google accept "
            "again every token of the account that has not expired, and the broker's live at most an hour, so "
            f"enable it no sooner than {_utc(safe_to_enable_at)}")


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
