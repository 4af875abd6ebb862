"""Writing and cleaning the revocation policy of an enrolled role, through IAM.

The broker assumes the role itself, as the session ``cloud-broker-revoker``, with a session
policy that allows only the IAM calls on that role which this needs: the rights live where the
enrolment template puts them (on the role, for that role only), and the broker needs no IAM
identity of its own in the customer's account. Revocation statements never match this session.

Read-modify-write of one policy document is not atomic in IAM; callers serialise writers of one
role (the service holds a lease per account while it calls ``revoke`` or ``collect``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloud_broker.families.aws.revocation_names import (
    REVOCATION_POLICY_NAME,
    REVOKER_SESSION_NAME,
    revoker_session_policy,
)
from cloud_broker.families.aws.revocation_policy import (
    ROLE_POLICY_SIZE_LIMIT,
    Outcome,
    Revocation,
    grant_revocation,
    revise,
    size,
)
from cloud_broker.providers.base import RevokeResult

REVOKER_DURATION = 900
_REFRESH_BEFORE = timedelta(minutes=3)


@dataclass(frozen=True)
class AwsRevokePlan:
    """Revoke ``grant_id``'s session on ``role_arn`` (or, with no grant, only collect)."""

    account_id: str
    role_arn: str
    external_id: str | None
    now: datetime
    grant_id: str | None = None
    session_expires_at: datetime | None = None
    kill_switch: bool = False

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]


class RoleRevoker:
    """IAM calls on enrolled roles, with a cached revoker session per role."""

    def __init__(self, sts: Any, make_client: Any) -> None:
        self._sts = sts
        self._make_client = make_client  # (service, credentials) -> boto3 client
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[Any, datetime]] = {}
        self._role_ids: dict[str, str] = {}

    def revoke(self, plan: AwsRevokePlan) -> RevokeResult:
        assert plan.grant_id is not None and plan.session_expires_at is not None
        revocation = grant_revocation(plan.grant_id, now=plan.now, session_expires_at=plan.session_expires_at)
        outcome = self._revise(plan, [revocation])
        return _result(plan, outcome)

    def collect(self, plan: AwsRevokePlan) -> int:
        """Drop the statements whose sessions have all expired; how many were dropped."""
        return self._revise(plan, []).collected

    def _revise(self, plan: AwsRevokePlan, adding: list[Revocation]) -> Outcome:
        iam = self._iam(plan)
        role_id = self._role_id(iam, plan)
        current, others = self._documents(iam, plan.role_name)
        outcome = revise(current, role_id, adding, plan.now, budget=ROLE_POLICY_SIZE_LIMIT - others)
        if outcome.document == current:
            return outcome
        if outcome.document is None:
            iam.delete_role_policy(RoleName=plan.role_name, PolicyName=REVOCATION_POLICY_NAME)
        else:
            iam.put_role_policy(RoleName=plan.role_name, PolicyName=REVOCATION_POLICY_NAME, PolicyDocument=outcome.document)
        return outcome

    def _documents(self, iam: Any, role: str) -> tuple[str | None, int]:
        """Our policy's document, and the size of the role's other inline policies."""
        current: str | None = None
        others = 0
        for name in _policy_names(iam, role):
            document = json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            if name == REVOCATION_POLICY_NAME:
                current = document
            else:
                others += size(document)
        return current, others

    def _role_id(self, iam: Any, plan: AwsRevokePlan) -> str:
        if plan.role_arn not in self._role_ids:
            self._role_ids[plan.role_arn] = str(iam.get_role(RoleName=plan.role_name)["Role"]["RoleId"])
        return self._role_ids[plan.role_arn]

    def _iam(self, plan: AwsRevokePlan) -> Any:
        with self._lock:
            cached = self._sessions.get(plan.role_arn)
            if cached is not None and cached[1] - _REFRESH_BEFORE > plan.now:
                return cached[0]
        params: dict[str, Any] = {
            "RoleArn": plan.role_arn, "RoleSessionName": REVOKER_SESSION_NAME, "DurationSeconds": REVOKER_DURATION,
            "Policy": json.dumps(revoker_session_policy(plan.role_arn)),
        }
        if plan.external_id:
            params["ExternalId"] = plan.external_id
        credentials = self._sts.assume_role(**params)["Credentials"]
        client = self._make_client("iam", credentials)
        with self._lock:
            self._sessions[plan.role_arn] = (client, credentials["Expiration"])
        return client


def _policy_names(iam: Any, role: str) -> list[str]:
    names: list[str] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        names.extend(page["PolicyNames"])
    return names


def _result(plan: AwsRevokePlan, outcome: Outcome) -> RevokeResult:
    where = f"inline policy {REVOCATION_POLICY_NAME} on role {plan.role_arn}"
    if outcome.collapsed:
        return RevokeResult(True, (
            f"AWS now refuses session cb-{plan.grant_id}: the role's inline policies were full, so {where} now "
            f"denies every broker session on this role issued before {plan.now:%Y-%m-%dT%H:%M:%SZ} — including "
            f"other grants' sessions that were still live ({outcome.collapsed} per-grant statements replaced)"),
            collateral_before=plan.now)
    return RevokeResult(True, f"AWS now refuses session cb-{plan.grant_id} (a Deny in {where}, matched by aws:userid "
                              f"and aws:TokenIssueTime); it is removed once the session has expired")
