"""The inline session policy passed to AssumeRole: exactly the grant, as compact as possible.

AWS caps the plaintext session policy at 2,048 characters, so the builder drops pairs that
grant nothing, gives a requested pattern back verbatim rather than its expansion, drops a
resource another one of the statement contains, and puts actions that share a resource set in
one statement. Every statement carries the region and
expiry conditions: ``aws:CurrentTime`` bounds use of the credentials independently of the
STS session length.

Global services (``iam:``, ``sts:``, ``organizations:``, ``route53:``, …) see
``aws:RequestedRegion`` = ``us-east-1`` whatever region the caller names, so a grant for them
only works if us-east-1 is among the requested regions. The condition is kept uniform on
purpose: widening it per service would let the region list of a request mean different things
for different actions.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from cloud_broker.domain.requests import AwsAccessRequest
from cloud_broker.errors import InvalidInput
from cloud_broker.policy.catalogue import Catalogue
from cloud_broker.policy.patterns import contains, fold, has_glob

SESSION_POLICY_LIMIT = 2048

_Entries = dict[str, tuple[str, ...]]  # action or requested pattern -> resources it applies to


class SessionPolicyTooLarge(InvalidInput):
    """The policy for this request would exceed AWS's plaintext limit; ``length`` says by how much."""

    code = "SESSION_POLICY_TOO_LARGE"

    def __init__(self, length: int) -> None:
        super().__init__(
            f"session policy would be {length:,} characters, "
            f"over AWS's {SESSION_POLICY_LIMIT:,} limit"
        )
        self.length = length


class NothingGranted(InvalidInput):
    """No requested action applies to any requested resource: there is no policy to write."""

    code = "NOTHING_GRANTED"


def build_session_policy(request: AwsAccessRequest, *, expires_at: datetime, catalogue: Catalogue) -> str:
    """Compact JSON of the policy allowing exactly ``request`` until ``expires_at``.

    ``expires_at`` must be timezone-aware; it is written to the second, rounded down, so the
    window never outlives the grant. Raises ``NothingGranted`` or ``SessionPolicyTooLarge``.
    """
    entries = _grant_entries(request, catalogue)
    if not entries:
        raise NothingGranted("no requested action applies to any requested resource")
    condition = _condition(request.regions, expires_at)
    statements = [
        {"Effect": "Allow", "Action": actions, "Resource": list(resources), "Condition": condition}
        for resources, actions in _group_by_resources(entries).items()
    ]
    text = json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"), ensure_ascii=False)
    if len(text) > SESSION_POLICY_LIMIT:
        raise SessionPolicyTooLarge(len(text))
    return text


def _grant_entries(request: AwsAccessRequest, catalogue: Catalogue) -> _Entries:
    resources = tuple(dict.fromkeys(request.resources))
    patterns: _Entries = {}
    concrete: _Entries = {}
    expansions: dict[str, frozenset[str]] = {}
    for requested in _unique_folded(request.actions):
        expansion = expansions[requested] = catalogue.expand(requested)
        granted = {a: tuple(r for r in resources if catalogue.applies(a, r)) for a in sorted(expansion)}
        if has_glob(requested):
            # Granting the pattern on the union adds only pairs that grant nothing.
            union = tuple(r for r in resources if any(r in g for g in granted.values()))
            if union:
                patterns[requested] = union
        else:
            concrete.update((a, g) for a, g in granted.items() if g)
    return patterns | {a: r for a, r in concrete.items() if not _implied(a, r, patterns, expansions)}


def _implied(action: str, resources: tuple[str, ...], patterns: _Entries, expansions: dict[str, frozenset[str]]) -> bool:
    return any(action in expansions[p] and set(resources) <= set(r) for p, r in patterns.items())


def _unique_folded(actions: tuple[str, ...]) -> list[str]:
    # IAM action names are case-insensitive: keep the first spelling of each.
    first: dict[str, str] = {}
    for action in actions:
        first.setdefault(fold(action), action)
    return list(first.values())


def _group_by_resources(entries: _Entries) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for action, resources in entries.items():
        groups.setdefault(_without_subsumed(resources), []).append(action)
    return groups


def _without_subsumed(resources: tuple[str, ...]) -> tuple[str, ...]:
    # ["*", "arn:aws:s3:::r/*"] allows what ["*"] allows: drop what another entry contains
    # (of two equivalent patterns, keep the first).
    return tuple(
        r for i, r in enumerate(resources)
        if not any(contains(o, r) and (j < i or not contains(r, o)) for j, o in enumerate(resources) if j != i)
    )


def _condition(regions: tuple[str, ...], expires_at: datetime) -> dict[str, dict[str, object]]:
    return {
        "StringEquals": {"aws:RequestedRegion": list(dict.fromkeys(regions))},
        "DateLessThan": {"aws:CurrentTime": _iso_seconds(expires_at)},
    }


def _iso_seconds(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expires_at must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
