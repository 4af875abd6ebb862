"""Writing and cleaning the revocation policy of an enrolled role, through IAM.

The broker assumes the role itself, as the session ``cloud-broker-revoker``, with a session
policy that allows only the IAM calls on that role which this needs: the rights live where the
enrolment template puts them (on the role, for that role only), and the broker needs no IAM
identity of its own in the customer's account. Revocation statements never match this session.

Read-modify-write of one policy document is not atomic in IAM; callers serialise writers of one
role (the service holds a lease per account while it calls ``revoke`` or ``collect``) and hand
in a ``fence``, asked right before each write, that renews that lease and says whether it is
still held: a process whose lease ran out mid-way (a slow or throttled IAM) writes nothing. A
write is read back before it is reported: the Deny must be there.
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
    covers,
    grant_revocation,
    parse,
    revise,
    size,
)
from cloud_broker.providers.base import Fence, RevokeResult

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


class LeaseLost(Exception):
    """Another broker process may be writing this role's revocation policy now."""


class NotWritten(Exception):
    """The policy read back after a write lacks what was written."""


class RoleRevoker:
    """IAM calls on enrolled roles, with a cached revoker session per role."""

    def __init__(self, sts: Any, make_client: Any) -> None:
        self._sts = sts
        self._make_client = make_client  # (service, credentials) -> boto3 client
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[Any, datetime]] = {}

    def revoke(self, plan: AwsRevokePlan, fence: Fence) -> RevokeResult:
        assert plan.grant_id is not None and plan.session_expires_at is not None
        revocation = grant_revocation(plan.grant_id, session_expires_at=plan.session_expires_at)
        outcome = self._revise(plan, [revocation], fence)
        return _result(plan, outcome)

    def collect(self, plan: AwsRevokePlan, fence: Fence) -> int:
        """Drop the statements whose sessions have all expired; how many were dropped."""
        return self._revise(plan, [], fence).collected

    def _revise(self, plan: AwsRevokePlan, adding: list[Revocation], fence: Fence) -> Outcome:
        iam = self._iam(plan)
        # Asked every time: a role deleted and created again under the same name has a new id.
        role_id = str(iam.get_role(RoleName=plan.role_name)["Role"]["RoleId"])
        current, others = self._documents(iam, plan.role_name)
        outcome = revise(current, role_id, adding, plan.now, budget=ROLE_POLICY_SIZE_LIMIT - others)
        if outcome.document == current:
            return outcome
        if not fence():
            raise LeaseLost(plan.role_arn)
        if outcome.document is None:
            iam.delete_role_policy(RoleName=plan.role_name, PolicyName=REVOCATION_POLICY_NAME)
        else:
            iam.put_role_policy(RoleName=plan.role_name, PolicyName=REVOCATION_POLICY_NAME, PolicyDocument=outcome.document)
            self._check_written(iam, plan.role_name, role_id, adding, plan.now)
        return outcome

    def _check_written(self, iam: Any, role: str, role_id: str, adding: list[Revocation], now: datetime) -> None:
        written, _ = parse(json.dumps(iam.get_role_policy(RoleName=role, PolicyName=REVOCATION_POLICY_NAME)
                                      ["PolicyDocument"]))
        for revocation in adding:
            if revocation.grant_id is not None and not covers(written, role_id, revocation.grant_id, now):
                raise NotWritten(revocation.grant_id)

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
