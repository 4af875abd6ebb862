"""The enrolled role as data: one model both the CloudFormation and the Terraform output render.

What the role guarantees, statement by statement:

* **Trust**: only the broker's principal may assume it (``sts:AssumeRole``), tag the session
  (agent, run, grant) and set its source identity (the agent id, for CloudTrail); with an
  external id, only when the call carries it.
* **Boundary** (a managed policy set as the role's permissions boundary): the most any session
  can ever do — the agent work of the ceilings, in their regions, plus the revocation upkeep.
  No inline policy added later (by mistake or by an attacker holding the role) can go beyond it.
* **Agent work** (inline): the same allows, so the role can do what its boundary caps.
* **Revocation upkeep** (inline): the broker's revoker session (``cloud-broker-revoker``) may
  read and write the role's own inline policies, which is how a grant is revoked in AWS; an
  explicit deny keeps every other session of the role (agents' ``cb-<grant_id>``) from it.
* **Session length**: ``MaxSessionDuration`` is the ceilings' longest TTL, raised to AWS's
  minimum of 3,600 s (the grant's own ``aws:CurrentTime`` bound still ends it on time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud_broker.families.aws import revocation_names as names
from cloud_broker.families.aws.enrolment.spec import AwsEnrolSpec

MIN_SESSION_SECONDS = 3600
MAX_SESSION_SECONDS = 43200
WORK_POLICY_NAME = "cloud-broker-agent-work"
UPKEEP_POLICY_NAME = "cloud-broker-revocation-upkeep"
TRUSTED_ACTIONS = ("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")
Document = dict[str, Any]


@dataclass(frozen=True)
class RoleDocuments:
    """The role, its boundary and its inline policies, ready to render."""

    account_id: str
    role_name: str
    role_arn: str
    boundary_name: str
    description: str
    max_session_duration: int
    trust_policy: Document
    boundary_policy: Document
    inline_policies: tuple[tuple[str, Document], ...]
    notes: tuple[str, ...]


def build_documents(spec: AwsEnrolSpec) -> RoleDocuments:
    """The documents for ``spec``; pure, so both renderings see exactly the same objects."""
    work = _work_statements(spec)
    upkeep = _upkeep_statements(spec.role_arn, spec.boundary_arn)
    duration, notes = session_duration(spec.max_ttl_seconds)
    if spec.any_action:
        notes += (("the boundary allows any action (--allow-any-action): the ceilings' regions and "
                   "denylists are what bound it"),)
    return RoleDocuments(
        account_id=spec.account_id,
        role_name=spec.role_name,
        role_arn=spec.role_arn,
        boundary_name=f"{spec.role_name}-boundary",
        description="Assumed by cloud-broker for agents' grants; each session is narrowed by a session policy",
        max_session_duration=duration,
        trust_policy=_policy(_trust_statement(spec)),
        boundary_policy=_policy(*work, *upkeep),
        inline_policies=((WORK_POLICY_NAME, _policy(*work)), (UPKEEP_POLICY_NAME, _policy(*upkeep))),
        notes=notes,
    )


def session_duration(max_ttl_seconds: int) -> tuple[int, tuple[str, ...]]:
    """AWS accepts 3,600..43,200 s: round the ceiling's longest TTL up into that range, and say so."""
    if max_ttl_seconds < MIN_SESSION_SECONDS:
        return MIN_SESSION_SECONDS, ((
            f"MaxSessionDuration is {MIN_SESSION_SECONDS} s, AWS's minimum, above the longest TTL "
            f"({max_ttl_seconds} s): each grant's session policy still ends it at its own expiry"),)
    if max_ttl_seconds > MAX_SESSION_SECONDS:
        return MAX_SESSION_SECONDS, (f"MaxSessionDuration is capped at AWS's maximum, {MAX_SESSION_SECONDS} s",)
    return max_ttl_seconds, ()


def _policy(*statements: Document) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _trust_statement(spec: AwsEnrolSpec) -> Document:
    statement: Document = {
        "Sid": "BrokerMintsSessions",
        "Effect": "Allow",
        "Principal": {"AWS": spec.broker_principal},
        "Action": list(TRUSTED_ACTIONS),
    }
    if spec.external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": spec.external_id}}
    return statement


def _work_statements(spec: AwsEnrolSpec) -> list[Document]:
    in_regions = {"StringEquals": {"aws:RequestedRegion": list(spec.regions)}}
    statements: list[Document] = []
    if spec.any_action:
        statements.append({"Sid": "AgentWorkAnyAction", "Effect": "Allow", "Action": "*", "Resource": "*",
                           "Condition": in_regions})
        if spec.denylist:
            # The revoker is spared: a denylist such as iam:Put*Policy would stop revocation itself.
            statements.append({"Sid": "CeilingDenylist", "Effect": "Deny", "Action": list(spec.denylist),
                               "Resource": "*", "Condition": _not_revoker()})
    for index, work in enumerate(spec.work, start=1):
        statements.append({"Sid": f"AgentWork{index}", "Effect": "Allow", "Action": list(work.actions),
                           "Resource": list(work.resources), "Condition": in_regions})
    return statements


def _upkeep_statements(role_arn: str, boundary_arn: str) -> list[Document]:
    """The revoker's rights on the role, and a Deny of every IAM action on the role and on its
    boundary to every other session: an agent granted IAM rights must not be able to drop its
    revocation, widen the boundary, or rewrite the trust policy to pose as the revoker."""
    return [
        {"Sid": "RevokerKeepsRevocationPolicy", "Effect": "Allow", "Action": list(names.REVOCATION_ACTIONS),
         "Resource": role_arn},
        {"Sid": "OnlyTheRevoker", "Effect": "Deny", "Action": "iam:*", "Resource": [role_arn, boundary_arn],
         "Condition": _not_revoker()},
    ]


def _not_revoker() -> Document:
    return {"StringNotLike": {"aws:userid": names.REVOKER_USERID_PATTERN}}
