"""The policy decision: ceiling + request -> auto_approve | route_to_approver | hard_deny.

Hard denials are checked first, most fundamental first, and the first one wins so the agent
gets one precise thing to fix. Only a request that could be granted at all is then split into
(concrete action, requested resource) pairs: pairs that grant nothing in AWS need no cover,
and the request is auto-approved only if a single rule covers each remaining pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from cloud_broker.domain.requests import AwsAccessRequest
from cloud_broker.policy.arns import resource_problem
from cloud_broker.policy.catalogue import Catalogue
from cloud_broker.policy.ceiling import Ceiling
from cloud_broker.policy.compiled import CompiledCeiling, compile_ceiling
from cloud_broker.policy.decision import Decision, Outcome, Pair
from cloud_broker.policy.patterns import has_glob, matcher
from cloud_broker.policy.session_policy import SESSION_POLICY_LIMIT, SessionPolicyTooLarge, build_session_policy

LISTED_PAIRS = 10
LISTED_UNKNOWN = 10

_Check = Callable[[AwsAccessRequest, CompiledCeiling, Catalogue], Decision | None]


def decide(
    request: AwsAccessRequest,
    ceiling: Ceiling | None,
    *,
    team: str,
    catalogue: Catalogue,
    now: datetime,
) -> Decision:
    """Decide ``request`` against the ceiling of (``team``, account); ``None`` = not enrolled.

    ``now`` must be timezone-aware; it only dates the session policy whose size is checked
    (the decision itself does not depend on it).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if ceiling is None:
        return _deny(f"account {request.account_id} is not enrolled for team {team}")
    compiled = compile_ceiling(ceiling)
    for check in _CHECKS:
        denial = check(request, compiled, catalogue)
        if denial is not None:
            return denial
    return _decide_pairs(request, compiled, catalogue, now)


def _check_account(request: AwsAccessRequest, compiled: CompiledCeiling, _: Catalogue) -> Decision | None:
    if request.account_id != compiled.ceiling.account_id:
        return _deny(f"request is for account {request.account_id} but the ceiling is for {compiled.ceiling.account_id}")
    return None


def _check_regions(request: AwsAccessRequest, compiled: CompiledCeiling, _: Catalogue) -> Decision | None:
    if not request.regions:
        return _deny("the request names no region")
    for region in request.regions:
        if region not in compiled.allowed_regions:
            allowed = ", ".join(compiled.ceiling.allowed_regions) or "none"
            return _deny(f"region {region!r} is outside the ceiling's allowed regions ({allowed})")
    return None


def _check_ttl(request: AwsAccessRequest, compiled: CompiledCeiling, _: Catalogue) -> Decision | None:
    if request.ttl <= timedelta(0):
        return _deny(f"ttl {_seconds(request.ttl)} is not positive")
    if request.ttl > compiled.ceiling.max_ttl:
        return _deny(f"ttl {_seconds(request.ttl)} exceeds the ceiling's max_ttl of {_seconds(compiled.ceiling.max_ttl)}")
    return None


def _check_denylist(request: AwsAccessRequest, compiled: CompiledCeiling, catalogue: Catalogue) -> Decision | None:
    for requested in request.actions:
        denied = compiled.denied_by(requested, catalogue.expand(requested))
        if denied is not None:
            example = _first(sorted(catalogue.expand(requested)), matcher(denied, ignore_case=True))
            detail = f" (e.g. {example})" if example and example.lower() != requested.lower() else ""
            return _deny(f"action {requested!r} can match denylisted {denied!r}{detail}")
    return None


def _check_unknown(request: AwsAccessRequest, _: CompiledCeiling, catalogue: Catalogue) -> Decision | None:
    unknown = [a for a in dict.fromkeys(request.actions) if not catalogue.expand(a)]
    if not unknown:
        return None
    # Suggesting costs up to ~0.2 s for a name far from any service: bound the work.
    suggestions = {name: catalogue.suggest(name) for name in unknown[:LISTED_UNKNOWN]}
    hints = "; ".join(f"{name!r}" + _did_you_mean(suggestions[name]) for name in suggestions)
    more = f"; and {len(unknown) - LISTED_UNKNOWN} more" if len(unknown) > LISTED_UNKNOWN else ""
    return Decision(Outcome.HARD_DENY, f"unknown action(s): {hints}{more}", suggestions=suggestions)


def _check_resources(request: AwsAccessRequest, compiled: CompiledCeiling, _: Catalogue) -> Decision | None:
    for resource in request.resources:
        problem = resource_problem(resource, compiled.ceiling.account_id)
        if problem is not None:
            return _deny(f"resource {resource!r} {problem}")
    return None


_CHECKS: tuple[_Check, ...] = (_check_account, _check_regions, _check_ttl, _check_denylist, _check_unknown, _check_resources)


def _decide_pairs(request: AwsAccessRequest, compiled: CompiledCeiling, catalogue: Catalogue, now: datetime) -> Decision:
    applicable, not_applicable = _split_pairs(request, catalogue)
    if not applicable:
        why = f"no requested action applies to any requested resource ({_listing(not_applicable)})"
        nothing = f"the request grants nothing: {why if not_applicable else 'it names no action or no resource'}"
        return Decision(Outcome.HARD_DENY, nothing, not_applicable=not_applicable)
    covered, uncovered = _cover(applicable, compiled)
    outcome, reason = _judge(request, compiled, catalogue, now, covered, uncovered)
    return Decision(outcome, reason, covered=covered, uncovered=uncovered, not_applicable=not_applicable)


def _judge(
    request: AwsAccessRequest, compiled: CompiledCeiling, catalogue: Catalogue, now: datetime,
    covered: tuple[Pair, ...], uncovered: tuple[Pair, ...],
) -> tuple[Outcome, str | None]:
    """The outcome of a request that could be granted at all, once its pairs are sorted."""
    try:
        build_session_policy(request, expires_at=now + request.ttl, catalogue=catalogue)
    except SessionPolicyTooLarge as exc:
        return Outcome.HARD_DENY, (
            f"session policy would be {exc.length:,} characters, over AWS's {SESSION_POLICY_LIMIT:,} limit; "
            "request fewer actions or resources, or patterns"
        )
    if uncovered:
        return Outcome.ROUTE_TO_APPROVER, f"not covered by a single auto-approve rule: {_listing(uncovered)}"
    open_ended = _open_ended_patterns(request, covered, compiled)
    if open_ended:
        return Outcome.ROUTE_TO_APPROVER, (
            f"action pattern(s) {', '.join(map(repr, open_ended))} could match actions AWS adds later, "
            "which no single rule covers; name the actions, or ask an approver"
        )
    return Outcome.AUTO_APPROVE, None


def _open_ended_patterns(request: AwsAccessRequest, covered: tuple[Pair, ...], compiled: CompiledCeiling) -> list[str]:
    """Requested action patterns whose future matches would not be covered.

    The session policy keeps a requested pattern as written, so AWS will also grant actions
    that match it tomorrow. Coverage of today's catalogue is therefore not enough: a pattern
    auto-approves only if one rule's action pattern contains it and that rule covers every
    resource the pattern's actions apply to.
    """
    open_ended = []
    for requested in dict.fromkeys(a for a in request.actions if has_glob(a)):
        matches = matcher(requested, ignore_case=True)
        resources = frozenset(p.resource for p in covered if matches(p.action))
        if compiled.closing_rule(requested, resources) is None:
            open_ended.append(requested)
    return open_ended


def _split_pairs(request: AwsAccessRequest, catalogue: Catalogue) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
    actions = dict.fromkeys(a for requested in request.actions for a in sorted(catalogue.expand(requested)))
    resources = tuple(dict.fromkeys(request.resources))
    applicable: list[Pair] = []
    not_applicable: list[Pair] = []
    for action in actions:
        for resource in resources:
            (applicable if catalogue.applies(action, resource) else not_applicable).append(Pair(action, resource))
    return tuple(applicable), tuple(not_applicable)


def _cover(pairs: Iterable[Pair], compiled: CompiledCeiling) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
    covered: list[Pair] = []
    uncovered: list[Pair] = []
    for pair in pairs:
        rule = compiled.covering_rule(pair.action, pair.resource)
        if rule is None:
            uncovered.append(pair)
        else:
            covered.append(Pair(pair.action, pair.resource, rule))
    return tuple(covered), tuple(uncovered)


def _listing(pairs: tuple[Pair, ...]) -> str:
    shown = ", ".join(f"{p.action} on {p.resource}" for p in pairs[:LISTED_PAIRS])
    more = len(pairs) - LISTED_PAIRS
    return f"{shown} and {more} more" if more > 0 else shown


def _did_you_mean(names: list[str]) -> str:
    return f" (did you mean {', '.join(names)}?)" if names else ""


def _seconds(ttl: timedelta) -> str:
    return f"{int(ttl.total_seconds())}s"


def _first(items: Iterable[str], predicate: Callable[[str], bool]) -> str | None:
    return next((item for item in items if predicate(item)), None)


def _deny(reason: str) -> Decision:
    return Decision(Outcome.HARD_DENY, reason)
