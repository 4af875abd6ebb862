"""Shape checks on requested resource patterns, before any coverage reasoning.

A grant is minted in one account, so a resource pattern must either be ``*`` or an ARN
pattern of the ``aws`` partition whose account segment can only be that account (or is empty,
as for S3 buckets). Anything else is refused outright rather than routed to a human: a
malformed ARN grants nothing useful, and a foreign account is never this ceiling's to give.
The shape itself is ``families.aws.grammar``'s, the one broker.yaml is checked against too.
"""

from __future__ import annotations

from cloud_broker.families.aws.grammar import arn_pattern_problem
from cloud_broker.policy.patterns import canonical, has_glob, matches


def resource_problem(resource: str, account_id: str) -> str | None:
    """Why ``resource`` may not appear in a grant for ``account_id`` (a phrase to follow the
    resource in a reason: "is malformed: …", "names account …"); None when it may.

    The account segment may be empty, the account itself, or a glob that can match it (``*``);
    a glob still covers other accounts, which is why such a request is only auto-approved if a
    rule contains it.
    """
    if resource == "*":
        return None
    malformed = arn_pattern_problem(resource)
    if malformed:
        return f"is malformed: {malformed}"
    return _account_problem(resource.split(":", 5)[4], account_id)


def _account_problem(account: str, account_id: str) -> str | None:
    if account in ("", account_id):
        return None
    # A glob matching a 12-digit id has at most 12 characters besides its stars: longer ones
    # are refused before any matcher is built for them.
    if has_glob(account) and len(canonical(account).replace("*", "")) <= len(account_id) \
            and matches(account, account_id):
        return None
    return f"names account {_shown(account)}, not {account_id}"


def _shown(segment: str) -> str:
    return repr(segment) if len(segment) <= 64 else repr(segment[:61] + "...")
