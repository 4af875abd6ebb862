"""The GCP policy decision: ceiling + request -> auto_approve | route_to_approver | hard_deny.

A GCP token is not scoped to the permissions an agent names. For Cloud Storage it is
downscoped by a Credential Access Boundary, whose rules name predefined roles, so it carries
every storage permission of the roles chosen (``GcpCatalogue.narrowest_roles``), usually more
than the words of the request; for any other service there is no boundary at all and the token
carries whatever the ceiling's service account is granted. The decision is therefore made on
what the token will *effectively* allow:

1. hard denials first (the first wins, so the agent gets one thing to fix): another project, a
   TTL over the ceiling's, too many patterns, a denylisted or unknown permission, a permission
   or resource outside the ceiling, too broad a request, Cloud Storage mixed with other
   services, a scope no boundary can express, effective permissions outside the ceiling;
2. without a boundary (not Cloud Storage): always a person, told that only the service
   account's bindings bound the token;
3. with a boundary: every effective permission on every effective resource (the requested
   ones, plus a bucket the boundary opens for listing) must be covered by one auto-approve
   rule; otherwise a person, told what is uncovered and how the roles widen the request.

Bounded like the AWS engine: patterns canonical and de-duplicated, at most
``MAX_ACTION_PATTERNS`` patterns and ``MAX_PAIRS`` pairs, automaton and role-search work paid
from one ``Budget``; what the budget cannot settle is answered the safe way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloud_broker.domain.limits import DECISION_WORK, LISTED_PAIRS, LISTED_UNKNOWN, MAX_PAIRS
from cloud_broker.families.gcp.boundary import Boundary, Unbounded, plan_boundary
from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.ceiling import GcpCeiling
from cloud_broker.families.gcp.grammar import service_of
from cloud_broker.families.gcp.request import GcpAccessRequest
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.compiled import CompiledCeiling, compile_ceiling
from cloud_broker.policy.decision import Decision, Outcome, Pair
from cloud_broker.policy.patterns import containment, matcher, unique
from cloud_broker.policy.reasons import deny, listing, pattern_count_denial, shown, spent, ttl_denial

STORAGE = "storage"
ACCESS_BOUNDARY = "access_boundary"
SERVICE_ACCOUNT_BINDINGS = "service_account_bindings"


@dataclass(frozen=True)
class Enforcement:
    """What bounds the token: a boundary with these roles, or the service account's bindings."""

    enforced_by: str
    roles: tuple[str, ...] = ()
    effective: frozenset[str] = frozenset()
    boundary: Boundary | None = None

    def facts(self) -> dict[str, Any]:
        body: dict[str, Any] = {"enforced_by": self.enforced_by}
        if self.enforced_by == ACCESS_BOUNDARY:
            body["roles"] = list(self.roles)
            body["effective_permissions"] = sorted(self.effective)
        return body


@dataclass
class _Work:
    request: GcpAccessRequest
    ceiling: GcpCeiling
    compiled: CompiledCeiling
    catalogue: GcpCatalogue
    budget: Budget
    expansions: dict[str, frozenset[str]] = field(default_factory=dict)

    def expansion(self, permission: str) -> frozenset[str]:
        if permission not in self.expansions:
            self.expansions[permission] = self.catalogue.expand(permission)
        return self.expansions[permission]

    def concrete(self) -> frozenset[str]:
        return frozenset().union(*(self.expansion(p) for p in self.request.permissions))


def decide(request: GcpAccessRequest, ceiling: GcpCeiling | None, *, team: str, catalogue: GcpCatalogue,
           budget: Budget | None = None) -> Decision:
    """Decide ``request`` against the ceiling of (``team``, project); ``None`` = not enrolled."""
    if ceiling is None:
        return deny(f"project {request.project_id} is not enrolled for team {team}")
    work = _Work(_canonical(request), ceiling, compile_ceiling(ceiling), catalogue, budget or Budget(DECISION_WORK))
    for check in _CHECKS:
        denial = check(work)
        if denial is not None:
            return denial
    return _decide_enforced(work)


def enforcement(request: GcpAccessRequest, catalogue: GcpCatalogue, budget: Budget | None = None) -> Enforcement:
    """How a token for ``request`` is bounded (for the mint, the replies and the console).
    Raises ``Unbounded`` when it cannot be, as ``decide`` would have said."""
    concrete = frozenset().union(*(catalogue.expand(p) for p in unique(request.permissions)))
    if {service_of(p) for p in concrete} != {STORAGE}:
        return Enforcement(SERVICE_ACCOUNT_BINDINGS)
    roles = catalogue.narrowest_roles(concrete, service=STORAGE, budget=budget)
    if roles is None:
        raise Unbounded("no set of predefined Cloud Storage roles holds exactly these permissions within the work "
                        "budget; name fewer permissions")
    effective = frozenset(p for p in catalogue.effective_permissions(roles) if service_of(p) == STORAGE)
    return Enforcement(ACCESS_BOUNDARY, roles, effective, plan_boundary(unique(request.resources), roles, effective))


def _canonical(request: GcpAccessRequest) -> GcpAccessRequest:
    return GcpAccessRequest(request.project_id, unique(request.permissions), unique(request.resources), request.ttl)


def _check_project(work: _Work) -> Decision | None:
    asked, ceiling = work.request.project_id, work.ceiling.project_id
    return deny(f"request is for project {asked} but the ceiling is for {ceiling}") if asked != ceiling else None


def _check_ttl(work: _Work) -> Decision | None:
    return ttl_denial(work.request.ttl, work.ceiling.max_ttl)


def _check_patterns(work: _Work) -> Decision | None:
    return pattern_count_denial(work.request.permissions, "permission")


def _check_denylist(work: _Work) -> Decision | None:
    for requested in work.request.permissions:
        hit = work.compiled.denied_by(requested, work.budget)
        if hit is None:
            continue
        denied, proven = hit
        if not proven:
            return deny(f"permission {requested!r} could not be shown, within the work budget, not to match "
                         f"denylisted {denied!r}; name the permissions")
        return deny(f"permission {requested!r} can match denylisted {denied!r}")
    return None


def _check_unknown(work: _Work) -> Decision | None:
    unknown = [p for p in work.request.permissions if not work.expansion(p)]
    if not unknown:
        return None
    suggestions = {name: work.catalogue.suggest(name) for name in unknown[:LISTED_UNKNOWN]}
    hints = "; ".join(f"{name!r}{work.catalogue.did_you_mean(name)}" for name in suggestions)
    more = f"; and {len(unknown) - LISTED_UNKNOWN} more" if len(unknown) > LISTED_UNKNOWN else ""
    return Decision(Outcome.HARD_DENY, f"unknown permission(s): {hints}{more}", suggestions=suggestions)


def _check_allowed(work: _Work) -> Decision | None:
    outside = _outside(work.concrete(), work.ceiling.allowed_permissions)
    if not outside:
        return None
    return deny(f"permission(s) outside the ceiling's allowed permissions: {', '.join(outside[:LISTED_PAIRS])}"
                 + (f" and {len(outside) - LISTED_PAIRS} more" if len(outside) > LISTED_PAIRS else ""))


def _check_resources(work: _Work) -> Decision | None:
    for resource in work.request.resources:
        if not _within(work, resource):
            return deny(f"resource {shown(resource)} is not within the ceiling's resource patterns (or could not "
                         f"be shown to be within the work budget): {', '.join(work.ceiling.resource_patterns)}")
    return None


def _within(work: _Work, resource: str) -> bool:
    """Whether one of the ceiling's resource patterns is shown to contain ``resource``."""
    return any(containment(pattern, resource, budget=work.budget) is True for pattern in work.ceiling.resource_patterns)


def _check_breadth(work: _Work) -> Decision | None:
    pairs = len(work.concrete()) * len(work.request.resources)
    if pairs <= MAX_PAIRS:
        return None
    return deny(f"the request expands to {pairs:,} (permission, resource) pairs, over the limit of {MAX_PAIRS:,}; "
                 "split it, or name fewer permissions or resources")


def _check_services(work: _Work) -> Decision | None:
    services = sorted({service_of(p) for p in work.concrete()})
    if STORAGE not in services or services == [STORAGE]:
        return None
    return deny(f"the request mixes Cloud Storage with {', '.join(s for s in services if s != STORAGE)}: a token "
                 "bounded to Cloud Storage cannot be used elsewhere, so ask for them in separate grants")


_CHECKS = (_check_project, _check_ttl, _check_patterns, _check_denylist, _check_unknown, _check_allowed,
           _check_resources, _check_breadth, _check_services)


def _decide_enforced(work: _Work) -> Decision:
    try:
        enforced = enforcement(work.request, work.catalogue, work.budget)
    except Unbounded as exc:
        return deny(str(exc))
    if enforced.enforced_by == SERVICE_ACCOUNT_BINDINGS:
        if not work.ceiling.allow_service_account_tokens:
            return deny(f"no access boundary exists outside Cloud Storage, so the token would carry every "
                         f"permission service account {work.ceiling.service_account} holds, and this ceiling does "
                         "not hand such tokens out (allow_service_account_tokens)")
        covered, uncovered = _cover(work, work.concrete(), work.request.resources)
        return Decision(Outcome.ROUTE_TO_APPROVER, (
            f"no access boundary exists outside Cloud Storage: the token would carry every permission service "
            f"account {work.ceiling.service_account} is granted, so a person decides"), covered=covered,
            uncovered=uncovered, facts=enforced.facts())
    return _judge_bounded(work, enforced)


def _judge_bounded(work: _Work, enforced: Enforcement) -> Decision:
    beyond = _outside(enforced.effective, work.ceiling.allowed_permissions)
    roles = ", ".join(enforced.roles)
    if beyond:
        return deny(f"the narrowest roles that hold these permissions ({roles}) also grant "
                     f"{', '.join(beyond[:LISTED_PAIRS])}, outside the ceiling's allowed permissions")
    denied = [p for p in sorted(enforced.effective) if work.compiled.denied_by(p, work.budget) is not None]
    if denied:
        return deny(f"the narrowest roles that hold these permissions ({roles}) also grant denylisted "
                     f"{', '.join(denied[:LISTED_PAIRS])}")
    assert enforced.boundary is not None
    opened = [r for r in enforced.boundary.widened if not _within(work, r)]
    if opened:
        return deny(f"listing would open {', '.join(opened)} itself, which is outside the ceiling's resource "
                     "patterns; ask for a prefix, or without storage.objects.list")
    resources = (*work.request.resources, *enforced.boundary.widened)
    covered, uncovered = _cover(work, enforced.effective, resources)
    facts = enforced.facts()
    if not uncovered:
        return Decision(Outcome.AUTO_APPROVE, None, covered=covered, facts=facts)
    return Decision(Outcome.ROUTE_TO_APPROVER, _route_reason(work, enforced, uncovered) + spent(work.budget),
                    covered=covered, uncovered=uncovered, facts=facts)


def _route_reason(work: _Work, enforced: Enforcement, uncovered: tuple[Pair, ...]) -> str:
    reason = f"not covered by a single auto-approve rule: {listing(uncovered)}"
    extra = sorted(enforced.effective - work.concrete())
    assert enforced.boundary is not None
    if extra or enforced.boundary.widened:
        widened = [*extra[:LISTED_PAIRS], *enforced.boundary.widened]
        reason += (f". The token's boundary names roles ({', '.join(enforced.roles)}), so it also grants "
                   f"{', '.join(widened)}, beyond what was asked")
    return reason


def _cover(work: _Work, permissions: frozenset[str],
           resources: tuple[str, ...]) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
    covered: list[Pair] = []
    uncovered: list[Pair] = []
    for permission in sorted(permissions):
        rules = work.compiled.rules_for_action(permission)
        for resource in resources:
            rule = work.compiled.covering_rule(rules, resource, work.budget)
            (uncovered if rule is None else covered).append(Pair(permission, resource, rule))
    return tuple(covered), tuple(uncovered)


def _outside(permissions: frozenset[str], allowed: tuple[str, ...]) -> list[str]:
    checks = [matcher(pattern) for pattern in allowed]
    return sorted(p for p in permissions if not any(check(p) for check in checks))
