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
from collections.abc import Callable
from datetime import UTC, datetime

from cloud_broker.domain.limits import DECISION_WORK
from cloud_broker.errors import InvalidInput
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.patterns import contains, has_glob, literal_prefix, literal_suffix, unique

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


Reaches = dict[tuple[tuple[str, ...], str], bool]  # (ARN formats, resource) -> the pair grants something


def build_session_policy(request: AwsAccessRequest, *, expires_at: datetime, catalogue: Catalogue,
                         budget: Budget | None = None, reaches: Reaches | None = None) -> str:
    """Compact JSON of the policy allowing exactly ``request`` until ``expires_at``.

    ``expires_at`` must be timezone-aware; it is written to the second, rounded down, so the
    window never outlives the grant. Raises ``NothingGranted`` or ``SessionPolicyTooLarge``.
    Compaction is paid for from ``budget`` (a decision's allowance, by default a fresh one):
    what it cannot prove redundant within it, it keeps, so the policy is exact either way.
    ``reaches``: what a decision already learnt of which pairs grant something (it is not asked
    twice; the map is completed here).
    """
    budget = budget or Budget(DECISION_WORK)
    entries = _grant_entries(request, catalogue, budget, {} if reaches is None else reaches)
    if not entries:
        raise NothingGranted("no requested action applies to any requested resource")
    condition = _condition(request.regions, expires_at)
    statements = [
        {"Effect": "Allow", "Action": actions, "Resource": list(resources), "Condition": condition}
        for resources, actions in _group_by_resources(entries, budget).items()
    ]
    text = json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"), ensure_ascii=False)
    if len(text) > SESSION_POLICY_LIMIT:
        raise SessionPolicyTooLarge(len(text))
    return text


def _grant_entries(request: AwsAccessRequest, catalogue: Catalogue, budget: Budget, reaches: Reaches) -> _Entries:
    resources = unique(request.resources)
    granted_memo: dict[str, tuple[str, ...]] = {}

    def granted_to(action: str) -> tuple[str, ...]:
        if action not in granted_memo:
            granted_memo[action] = grant_of(action)
        return granted_memo[action]

    def grant_of(action: str) -> tuple[str, ...]:
        # Answered per (resource types, resource): many actions share their resource types.
        found = catalogue.action(action)
        formats = found.arn_formats if found else ()
        for resource in resources:
            if (formats, resource) not in reaches:
                reaches[formats, resource] = found is not None and catalogue.reaches(formats, resource, budget=budget)
        return tuple(r for r in resources if reaches[formats, r])

    patterns: _Entries = {}
    concrete: _Entries = {}
    expansions: dict[str, frozenset[str]] = {}
    for requested in unique(request.actions, ignore_case=True):
        expansion = expansions[requested] = catalogue.expand(requested)
        granted = {a: granted_to(a) for a in sorted(expansion)}
        if has_glob(requested):
            # Granting the pattern on the union adds only pairs that grant nothing.
            reached = {r for g in granted.values() for r in g}
            union = tuple(r for r in resources if r in reached)
            if union:
                patterns[requested] = union
        else:
            concrete.update((a, g) for a, g in granted.items() if g)
    covering = [(expansions[p], frozenset(r)) for p, r in patterns.items()]
    return patterns | {a: r for a, r in concrete.items() if not any(a in e and set(r) <= c for e, c in covering)}


def _group_by_resources(entries: _Entries, budget: Budget) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    compacted: dict[tuple[str, ...], tuple[str, ...]] = {}
    known: dict[tuple[str, str], bool] = {}

    def covers(outer: str, inner: str) -> bool:
        if (outer, inner) not in known:
            known[outer, inner] = contains(outer, inner, budget=budget)
        return known[outer, inner]

    for action, resources in entries.items():
        if resources not in compacted:
            compacted[resources] = _without_subsumed(resources, covers)
        groups.setdefault(compacted[resources], []).append(action)
    return groups


def _without_subsumed(resources: tuple[str, ...], covers: Callable[[str, str], bool]) -> tuple[str, ...]:
    """["*", "arn:aws:s3:::r/*"] allows what ["*"] allows: drop what another entry contains
    (of two equivalent patterns, keep the first). Unproven containment keeps both. Literal
    prefixes and suffixes rule most pairs out before any automaton is asked."""
    ends = [(literal_prefix(r), literal_suffix(r)) for r in resources]

    def may_cover(j: int, i: int) -> bool:
        return ends[i][0].startswith(ends[j][0]) and ends[i][1].endswith(ends[j][1])

    def subsumed(i: int) -> bool:
        r = resources[i]
        return any(
            may_cover(j, i) and covers(o, r) and (j < i or not (may_cover(i, j) and covers(r, o)))
            for j, o in enumerate(resources) if j != i
        )

    return tuple(r for i, r in enumerate(resources) if not subsumed(i))


def _condition(regions: tuple[str, ...], expires_at: datetime) -> dict[str, dict[str, object]]:
    return {
        "StringEquals": {"aws:RequestedRegion": list(dict.fromkeys(regions))},
        "DateLessThan": {"aws:CurrentTime": _iso_seconds(expires_at)},
    }


def _iso_seconds(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expires_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
