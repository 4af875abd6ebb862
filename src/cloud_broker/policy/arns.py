"""Shape checks on requested resource patterns, before any coverage reasoning.

A grant is minted in one account, so a resource pattern must either be ``*`` or an ARN
pattern of the ``aws`` partition whose account segment can only be that account (or is empty,
as for S3 buckets). Anything else is refused outright rather than routed to a human: a
malformed ARN grants nothing useful, and a foreign account is never this ceiling's to give.
"""

from __future__ import annotations

import re

from cloud_broker.policy.patterns import has_glob, matches

_SERVICE = re.compile(r"[a-z0-9*?-]+")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
_SPACE = re.compile(r"\s")
_SHAPE = "must be '*' or arn:aws:<service>:<region>:<account>:<resource>"


def resource_problem(resource: str, account_id: str) -> str | None:
    """Why ``resource`` may not appear in a grant for ``account_id`` (a phrase to follow the
    resource in a reason: "is malformed: …", "names account …"); None when it may.

    Segments are read by splitting on the first five colons. The account segment may be
    empty, the account itself, or a glob that can match it (``*``); a glob still covers other
    accounts, which is why such a request is only auto-approved if a rule contains it.
    """
    if resource == "*":
        return None
    parts = resource.split(":", 5)
    malformed = _shape_problem(resource) or _segment_problem(*parts)
    if malformed:
        return f"is malformed: {malformed}"
    return _account_problem(parts[4], account_id)


def _shape_problem(resource: str) -> str | None:
    if not resource.isprintable() or _SPACE.search(resource):
        return "contains whitespace or control characters"
    if resource.count(":") < 5:
        return _SHAPE
    return None


def _segment_problem(arn: str, partition: str, service: str, region: str, _account: str, rest: str) -> str | None:
    # Only called once _shape_problem has seen the five colons.
    if arn != "arn":
        return _SHAPE
    if partition != "aws":
        return f"partition {partition!r} is not 'aws'"
    if not _SERVICE.fullmatch(service):
        return f"service segment {service!r} is not a service prefix"
    if region and not has_glob(region) and not _REGION.fullmatch(region):
        return f"region segment {region!r} is not an AWS region"
    if not rest:
        return "resource segment is empty"
    return None


def _account_problem(account: str, account_id: str) -> str | None:
    if account in ("", account_id):
        return None
    if has_glob(account) and matches(account, account_id):
        return None
    return f"names account {account!r}, not {account_id}"
