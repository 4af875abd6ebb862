"""The policy decision: ceiling + request -> auto_approve | route_to_approver | hard_deny.

Hard denials are checked first, most fundamental first, and the first one wins so the agent
gets one precise thing to fix. Only a request that could be granted at all is then split into
(concrete action, requested resource) pairs: pairs that grant nothing in AWS need no cover,
and the request is auto-approved only if a single rule covers each remaining pair.

The request is the agent's, so the decision's cost is bounded: patterns are put in canonical
form and de-duplicated first, every pattern is expanded once, pairs are answered per
(resource types, resource) and per (rules, resource) because many actions share them, a
request expanding to more than ``MAX_PAIRS`` pairs is refused, and automaton work is paid for
from one :class:`~cloud_broker.policy.budget.Budget`. What the budget cannot settle is
answered the safe way, so an exhausted budget sends a request to a person, never past one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from cloud_broker.domain.limits import DECISION_WORK, LISTED_UNKNOWN, MAX_PAIRS
from cloud_broker.families.aws.arns import resource_problem
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.ceiling import Ceiling
from cloud_broker.families.aws.request import AwsAccessRequest
from cloud_broker.families.aws.session_policy import SESSION_POLICY_LIMIT, SessionPolicyTooLarge, build_session_policy
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.compiled import CompiledCeiling, compile_ceiling
from cloud_broker.policy.decision import Decision, Outcome, Pair
from cloud_broker.policy.patterns import has_glob, matcher, unique
from cloud_broker.policy.reasons import deny, listing, pattern_count_denial, shown, spent, ttl_denial


@dataclass
class _Work:
    """One decision's inputs in canonical form, and what it computes once and reuses."""

    request: AwsAccessRequest
    ceiling: Ceiling
    compiled: CompiledCeiling
    catalogue: Catalogue
    budget: Budget
    expansions: dict[str, frozenset[str]] = field(default_factory=dict)
    # (ARN formats, resource) -> whether the pair grants something; shared with the session policy.
    reaches: dict[tuple[tuple[str, ...], str], bool] = field(default_factory=dict)
    _concrete: tuple[str, ...] | None = None

    def expansion(self, action: str) -> frozenset[str]:
        if action not in self.expansions:
            self.expansions[action] = self.catalogue.expand(action)
        return self.expansions[action]

    def concrete_actions(self) -> tuple[str, ...]:
        """Every catalogue action the request can reach, each once, in request order."""
        if self._concrete is None:
            reached = (a for requested in self.request.actions for a in sorted(self.expansion(requested)))
            self._concrete = tuple(dict.fromkeys(reached))
        return self._concrete


_Check = Callable[[_Work], Decision | None]


def decide(
    request: AwsAccessRequest,
    ceiling: Ceiling | None,
    *,
    team: str,
    catalogue: Catalogue,
    now: datetime,
    budget: Budget | None = None,
) -> Decision:
    """Decide ``request`` against the ceiling of (``team``, account); ``None`` = not enrolled.

    ``now`` must be timezone-aware; it only dates the session policy whose size is checked
    (the decision itself does not depend on it). ``budget`` bounds the automaton work (a fresh
    ``DECISION_WORK`` allowance by default); tests pass one to read what was spent.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if ceiling is None:
        return deny(f"account {request.account_id} is not enrolled for team {team}")
    work = _Work(_canonical(request), ceiling, compile_ceiling(ceiling), catalogue, budget or Budget(DECISION_WORK))
    for check in _CHECKS:
        denial = check(work)
        if denial is not None:
            return denial
    return _decide_pairs(work, now)


def _canonical(request: AwsAccessRequest) -> AwsAccessRequest:
    """The same request with each pattern once, spelt canonically (``s3:**`` is ``s3:*``)."""
    return replace(request, actions=unique(request.actions, ignore_case=True),
                   resources=unique(request.resources), regions=tuple(dict.fromkeys(request.regions)))


def _check_account(work: _Work) -> Decision | None:
    account, ceiling = work.request.account_id, work.ceiling.account_id
    return deny(f"request is for account {account} but the ceiling is for {ceiling}") if account != ceiling else None


def _check_regions(work: _Work) -> Decision | None:
    if not work.request.regions:
        return deny("the request names no region")
    for region in work.request.regions:
        if region not in work.ceiling.allowed_regions:
            allowed = ", ".join(work.ceiling.allowed_regions) or "none"
            return deny(f"region {region!r} is outside the ceiling's allowed regions ({allowed})")
    return None


def _check_ttl(work: _Work) -> Decision | None:
    return ttl_denial(work.request.ttl, work.ceiling.max_ttl)


def _check_patterns(work: _Work) -> Decision | None:
    return pattern_count_denial(work.request.actions, "action")


def _check_denylist(work: _Work) -> Decision | None:
    for requested in work.request.actions:
        hit = work.compiled.denied_by(requested, work.budget)
        if hit is None:
            continue
        denied, proven = hit
        if not proven:
            return deny(f"action {requested!r} could not be shown, within the work budget, not to match "
                         f"denylisted {denied!r}; name the actions")
        example = _first(sorted(work.expansion(requested)), matcher(denied, ignore_case=True))
        detail = f" (e.g. {example})" if example and example.lower() != requested.lower() else ""
        return deny(f"action {requested!r} can match denylisted {denied!r}{detail}")
    return None


def _check_unknown(work: _Work) -> Decision | None:
    unknown = [a for a in work.request.actions if not work.expansion(a)]
    if not unknown:
        return None
    catalogue = work.catalogue
    suggestions = {name: catalogue.suggest(name) for name in unknown[:LISTED_UNKNOWN]}
    hints = "; ".join(catalogue.unknown(name) for name in suggestions)
    more = f"; and {len(unknown) - LISTED_UNKNOWN} more" if len(unknown) > LISTED_UNKNOWN else ""
    return Decision(Outcome.HARD_DENY, f"unknown action(s): {hints}{more}", suggestions=suggestions)


def _check_resources(work: _Work) -> Decision | None:
    for resource in work.request.resources:
        problem = resource_problem(resource, work.ceiling.account_id)
        if problem is not None:
            return deny(f"resource {shown(resource)} {problem}")
    return None


def _check_breadth(work: _Work) -> Decision | None:
    pairs = len(work.concrete_actions()) * len(work.request.resources)
    if pairs <= MAX_PAIRS:
        return None
    return deny(f"the request expands to {pairs:,} (action, resource) pairs, over the limit of {MAX_PAIRS:,} "
                 "one request may have; split it, or name fewer actions or resources")


_CHECKS: tuple[_Check, ...] = (
    _check_account, _check_regions, _check_ttl, _check_patterns, _check_denylist, _check_unknown, _check_resources,
    _check_breadth,
)


def _decide_pairs(work: _Work, now: datetime) -> Decision:
    applicable, not_applicable = _split_pairs(work)
    if not applicable:
        why = f"no requested action applies to any requested resource ({listing(not_applicable)})"
        nothing = f"the request grants nothing: {why if not_applicable else 'it names no action or no resource'}"
        return Decision(Outcome.HARD_DENY, nothing, not_applicable=not_applicable)
    covered, uncovered = _cover(applicable, work)
    outcome, reason = _judge(work, now, covered, uncovered)
    return Decision(outcome, reason, covered=covered, uncovered=uncovered, not_applicable=not_applicable)


def _split_pairs(work: _Work) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
    """Pairs that grant something and pairs that do not, answered once per (resource types,
    resource): many actions share their resource types."""
    catalogue, budget, resources, reaches = work.catalogue, work.budget, work.request.resources, work.reaches
    applicable: list[Pair] = []
    not_applicable: list[Pair] = []
    for action in work.concrete_actions():
        found = catalogue.action(action)
        formats = found.arn_formats if found else ()
        for resource in resources:
            key = (formats, resource)
            if key not in reaches:
                reaches[key] = found is not None and catalogue.reaches(formats, resource, budget=budget)
            (applicable if reaches[key] else not_applicable).append(Pair(action, resource))
    return tuple(applicable), tuple(not_applicable)


def _cover(pairs: tuple[Pair, ...], work: _Work) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
    """Each pair with its covering rule, answered once per (rules matching the action, resource)."""
    compiled, budget = work.compiled, work.budget
    rules_of: dict[str, frozenset[int]] = {}
    rule_for: dict[tuple[frozenset[int], str], str | None] = {}
    covered: list[Pair] = []
    uncovered: list[Pair] = []
    for pair in pairs:
        rules = rules_of.get(pair.action)
        if rules is None:
            rules = rules_of[pair.action] = compiled.rules_for_action(pair.action)
        key = (rules, pair.resource)
        if key not in rule_for:
            rule_for[key] = compiled.covering_rule(rules, pair.resource, budget)
        rule = rule_for[key]
        if rule is None:
            uncovered.append(pair)
        else:
            covered.append(Pair(pair.action, pair.resource, rule))
    return tuple(covered), tuple(uncovered)


def _judge(work: _Work, now: datetime, covered: tuple[Pair, ...], uncovered: tuple[Pair, ...]) -> tuple[Outcome, str | None]:
    """The outcome of a request that could be granted at all, once its pairs are sorted."""
    try:
        build_session_policy(work.request, expires_at=now + work.request.ttl, catalogue=work.catalogue,
                             budget=work.budget, reaches=work.reaches)
    except SessionPolicyTooLarge as exc:
        return Outcome.HARD_DENY, (
            f"session policy would be {exc.length:,} characters, over AWS's {SESSION_POLICY_LIMIT:,} limit; "
            "request fewer actions or resources, or patterns" + spent(work.budget)
        )
    if uncovered:
        return Outcome.ROUTE_TO_APPROVER, f"not covered by a single auto-approve rule: {listing(uncovered)}" + \
            spent(work.budget)
    open_ended = _open_ended_patterns(work, covered)
    if open_ended:
        return Outcome.ROUTE_TO_APPROVER, (
            f"action pattern(s) {', '.join(map(repr, open_ended))} could match actions AWS adds later, "
            "which no single rule covers; name the actions, or ask an approver" + spent(work.budget)
        )
    return Outcome.AUTO_APPROVE, None


def _open_ended_patterns(work: _Work, covered: tuple[Pair, ...]) -> list[str]:
    """Requested action patterns whose future matches would not be covered.

    The session policy keeps a requested pattern as written, so AWS will also grant actions
    that match it tomorrow. Coverage of today's catalogue is therefore not enough: a pattern
    auto-approves only if one rule's action pattern contains it and that rule covers every
    resource the pattern's actions apply to.
    """
    reached: dict[str, set[str]] = {}
    for pair in covered:
        reached.setdefault(pair.action, set()).add(pair.resource)
    open_ended = []
    for requested in (a for a in work.request.actions if has_glob(a)):
        resources = frozenset(r for action in work.expansion(requested) for r in reached.get(action, ()))
        if work.compiled.closing_rule(requested, resources, work.budget) is None:
            open_ended.append(requested)
    return open_ended


def _first(items: list[str], predicate: Callable[[str], bool]) -> str | None:
    return next((item for item in items if predicate(item)), None)

