"""The names the broker and an enrolled role agree on for revoking grants inside AWS.

STS credentials cannot be revoked through STS, but IAM evaluates the role's policies on every
call. The broker revokes a grant by writing ``Deny`` statements into one inline policy of the
assumed role, :data:`REVOCATION_POLICY_NAME`. To write it, the broker assumes that same role
with the session name :data:`REVOKER_SESSION_NAME` and a session policy allowing only
:data:`REVOCATION_ACTIONS` on the role's own ARN. ``cloud-broker enroll aws`` gives the role
exactly those rights and denies them to every other session of the role (agents' sessions are
named ``cb-<grant_id>``), so both sides import the names from here and cannot drift apart.
"""

from __future__ import annotations

from typing import Final

# The inline policy on the enrolled role holding the broker's revocation Deny statements.
REVOCATION_POLICY_NAME: Final = "cloud-broker-revocations"
# The RoleSessionName of the broker's own session that writes and cleans that policy.
REVOKER_SESSION_NAME: Final = "cloud-broker-revoker"
# What that session may do, on the role's own ARN only.
REVOCATION_ACTIONS: Final[tuple[str, ...]] = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
)
# ``aws:userid`` of a role session is ``ROLE_ID:session-name``: this pattern matches the revoker.
REVOKER_USERID_PATTERN: Final = f"*:{REVOKER_SESSION_NAME}"


def revoker_session_policy(role_arn: str) -> dict[str, object]:
    """The session policy the revoker's AssumeRole carries: the revocation actions on the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(REVOCATION_ACTIONS), "Resource": role_arn}],
    }
