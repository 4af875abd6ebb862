"""A ceiling's rules prepared for repeated decisions: rules indexed, answers memoised.

Any family's ceiling can be compiled: it holds auto-approve rules, a denylist, and says what
separates the service from the rest of an action name (``s3:GetObject``, ``storage.objects.get``).

Coverage is asked once per (concrete action, requested resource) pair, and a ceiling of
hundreds of rules would make a linear scan the whole cost of a decision. Two indexes cut
the candidates down before any automaton runs:

* action patterns by service prefix — ``s3:Get*`` can only match ``s3:`` actions;
* resource patterns by one short substring ("gram") of their literal text, the rarest in the
  ceiling. If pattern P contains pattern Q, every literal run of P occurs inside a literal
  run of Q (read Q with each wildcard as a foreign character: P must match that string, and
  its runs cannot straddle the foreign characters), so P's gram occurs in Q. The index is
  therefore exact as a filter: it never drops a rule that could cover the pair.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol, TypeVar

from cloud_broker.domain.limits import MEMO_BYTES
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.memo import MISSING, BoundedMemo
from cloud_broker.policy.patterns import contains, fold, literal_prefix, matcher, overlap
from cloud_broker.policy.rules import AutoApproveRule

_CEILING_MEMO_BYTES = MEMO_BYTES // 2
_GRAM = 5
_WILDCARDS = re.compile(r"[*?]")
_Candidate = tuple[int, str]  # (rule index, pattern)
_K = TypeVar("_K")
_V = TypeVar("_V")


class RuleHolder(Protocol):
    """What a family's ceiling offers to be compiled (an immutable, hashable object)."""

    @property
    def auto_approve(self) -> tuple[AutoApproveRule, ...]: ...

    @property
    def denylist(self) -> tuple[str, ...]: ...

    @property
    def service_separator(self) -> str: ...

    def __hash__(self) -> int: ...


class CompiledCeiling:
    """Answers the per-pair questions of ``decide`` for one immutable ceiling.

    Every question takes the decision's ``Budget``. Answers are memoised across decisions only
    when they were settled: an answer given because the budget ran out is the safe one for
    that decision, not a fact about the ceiling.
    """

    def __init__(self, ceiling: RuleHolder) -> None:
        self.ceiling = ceiling
        self._separator = ceiling.service_separator
        self._names = tuple(rule.name for rule in ceiling.auto_approve)
        self._actions_by_service, self._actions_any_service = _index_actions(ceiling)
        # One compiled matcher per rule action pattern: rules_for_action tries each of them.
        self._matchers = {p: matcher(p) for _, p in self._action_candidates("*")}
        self._resources_by_gram, self._resources_unindexed = _index_resources(ceiling)
        # Keyed by what agents send: bounded in bytes (``policy.memo``), one share per ceiling.
        self._rules_memo: BoundedMemo[str, frozenset[int]] = BoundedMemo(
            _CEILING_MEMO_BYTES, lambda k, v: len(k) + 8 * len(v) + 100)
        self._resources_memo: BoundedMemo[str, tuple[_Candidate, ...]] = BoundedMemo(
            _CEILING_MEMO_BYTES, lambda k, v: len(k) + 8 * len(v) + 100)  # candidates are shared references
        self._cover_memo: BoundedMemo[tuple[frozenset[int], str], str | None] = BoundedMemo(
            _CEILING_MEMO_BYTES, lambda k, _v: 8 * len(k[0]) + len(k[1]) + 100)
        self._deny_memo: BoundedMemo[str, tuple[str, bool] | None] = BoundedMemo(
            _CEILING_MEMO_BYTES, lambda k, _v: len(k) + 100)
        self._close_memo: BoundedMemo[tuple[str, frozenset[str]], str | None] = BoundedMemo(
            _CEILING_MEMO_BYTES, lambda k, _v: len(k[0]) + sum(len(r) for r in k[1]) + 100)

    def denied_by(self, action_pattern: str, budget: Budget) -> tuple[str, bool] | None:
        """The first denylist pattern ``action_pattern`` can reach (the two globs share a name,
        case-insensitively) and True; or one it could not be shown not to reach within the
        budget, and False (a hard rule that cannot be ruled out applies); or None."""
        folded = fold(action_pattern)
        return self._settled(self._deny_memo, folded, budget, lambda: self._find_denied(folded, budget))

    def _find_denied(self, action_pattern: str, budget: Budget) -> tuple[str, bool] | None:
        for denied in self.ceiling.denylist:
            reached = overlap(denied, action_pattern, ignore_case=True, budget=budget)
            if reached is not False:
                return denied, reached is True
        return None

    def rules_for_action(self, action: str) -> frozenset[int]:
        """The rules whose action patterns match concrete ``action``: pairs of actions with
        the same set are covered alike, so callers group by it."""
        folded = fold(action)
        return _memoised(self._rules_memo, folded, lambda: self._find_rules_for_action(folded))

    def covering_rule(self, rules: frozenset[int], resource: str, budget: Budget) -> str | None:
        """Name of the first of ``rules`` one of whose resource patterns contains ``resource``
        (every ARN it can match); None when none does, or none could be shown to in budget."""
        if not rules:
            return None
        key = (rules, resource)
        return self._settled(self._cover_memo, key, budget, lambda: self._find_covering_rule(rules, resource, budget))

    def _find_covering_rule(self, rules: frozenset[int], resource: str, budget: Budget) -> str | None:
        for index, pattern in self._resource_candidates(resource, budget):
            if index in rules and contains(pattern, resource, budget=budget):
                return self._names[index]
        return None

    def closing_rule(self, action_pattern: str, resources: frozenset[str], budget: Budget) -> str | None:
        """Name of a rule whose action patterns contain ``action_pattern`` itself (so actions AWS
        adds later that match it are covered too) and which covers every one of ``resources``."""
        key = (fold(action_pattern), resources)
        return self._settled(self._close_memo, key, budget, lambda: self._find_closing_rule(*key, budget))

    def _find_closing_rule(self, folded: str, resources: frozenset[str], budget: Budget) -> str | None:
        candidates = {i for i, pattern in self._action_candidates(folded) if contains(pattern, folded, budget=budget)}
        for index in sorted(candidates):
            if all(self._rule_covers_resource(index, r, budget) for r in resources):
                return self._names[index]
        return None

    def _rule_covers_resource(self, index: int, resource: str, budget: Budget) -> bool:
        candidates = self._resource_candidates(resource, budget)
        return any(i == index and contains(p, resource, budget=budget) for i, p in candidates)

    def _find_rules_for_action(self, folded: str) -> frozenset[int]:
        return frozenset(i for i, pattern in self._action_candidates(folded) if self._matchers[pattern](folded))

    def _action_candidates(self, folded: str) -> list[_Candidate]:
        """Rule action patterns that could match or contain ``folded`` (an action or a pattern):
        those of its service when its service is spelt out, else all of them."""
        service, colon, _ = literal_prefix(folded).partition(self._separator)
        if colon:
            return self._actions_by_service.get(service, []) + self._actions_any_service
        return [c for group in self._actions_by_service.values() for c in group] + self._actions_any_service

    def _resource_candidates(self, resource: str, budget: Budget) -> tuple[_Candidate, ...]:
        """Rule resource patterns that may contain ``resource``. Listing a resource's grams is a
        pass over it in Python, paid from the budget; unpaid, there are no candidates (and so
        no cover), which is the safe answer."""
        found = self._resources_memo.get(resource)
        if found is None:  # () is a valid, remembered answer; None only means "not yet"
            if not budget.take(len(resource) // 8):
                return ()
            found = _memoised(self._resources_memo, resource, lambda: self._find_resource_candidates(resource))
        return found

    def _find_resource_candidates(self, resource: str) -> tuple[_Candidate, ...]:
        hits = (self._resources_by_gram.get(gram, ()) for gram in _grams(resource))
        return tuple(sorted({*self._resources_unindexed, *(c for group in hits for c in group)}))

    @staticmethod
    def _settled(memo: BoundedMemo[_K, _V], key: _K, budget: Budget, compute: Callable[[], _V]) -> _V:
        """``_memoised``, except that an answer reached with the budget spent is not kept."""
        found = memo.lookup(key)
        if found is not MISSING:
            return found  # type: ignore[return-value]
        answer = compute()
        if not budget.exhausted:
            memo.put(key, answer)
        return answer


def _index_actions(ceiling: RuleHolder) -> tuple[dict[str, list[_Candidate]], list[_Candidate]]:
    by_service: dict[str, list[_Candidate]] = defaultdict(list)
    any_service: list[_Candidate] = []
    for index, rule in enumerate(ceiling.auto_approve):
        for pattern in map(fold, rule.actions):
            service, colon, _ = literal_prefix(pattern).partition(ceiling.service_separator)
            (by_service[service] if colon else any_service).append((index, pattern))
    return dict(by_service), any_service


def _index_resources(ceiling: RuleHolder) -> tuple[dict[str, list[_Candidate]], list[_Candidate]]:
    candidates = [(i, p) for i, rule in enumerate(ceiling.auto_approve) for p in rule.resources]
    frequency = Counter(gram for _, pattern in candidates for gram in _grams(pattern))
    by_gram: dict[str, list[_Candidate]] = defaultdict(list)
    unindexed: list[_Candidate] = []
    for candidate in candidates:
        grams = _grams(candidate[1])
        if grams:
            by_gram[min(grams, key=lambda g: (frequency[g], g))].append(candidate)
        else:
            unindexed.append(candidate)  # no literal run long enough: always a candidate
    return dict(by_gram), unindexed


def _grams(pattern: str) -> set[str]:
    """Every ``_GRAM``-long substring of the literal runs of ``pattern``."""
    return {run[k : k + _GRAM] for run in _WILDCARDS.split(pattern) for k in range(len(run) - _GRAM + 1)}


def _memoised(memo: BoundedMemo[_K, _V], key: _K, compute: Callable[[], _V]) -> _V:
    # The answer is returned from a local, so a clear by another thread is harmless.
    found = memo.lookup(key)
    if found is MISSING:
        found = compute()
        memo.put(key, found)  # type: ignore[arg-type]
    return found  # type: ignore[return-value]


_by_identity: dict[int, tuple[weakref.ref[RuleHolder], CompiledCeiling]] = {}


def compile_ceiling(ceiling: RuleHolder) -> CompiledCeiling:
    """The compiled form of ``ceiling``, built once per ceiling.

    Looked up by identity first: hashing a frozen ceiling of thousands of patterns on every
    decision would cost more than the decision. Equal ceilings loaded afresh share the
    value-keyed cache behind it.
    """
    entry = _by_identity.get(id(ceiling))
    if entry is not None and entry[0]() is ceiling:
        return entry[1]
    compiled = _compile_by_value(ceiling)
    key = id(ceiling)
    # The callback holds the table itself: at interpreter exit module globals may be gone.
    forget = lambda _ref, table=_by_identity: table.pop(key, None)
    _by_identity[key] = (weakref.ref(ceiling, forget), compiled)
    return compiled


@lru_cache(maxsize=64)
def _compile_by_value(ceiling: RuleHolder) -> CompiledCeiling:
    return CompiledCeiling(ceiling)


def cache_clear() -> None:
    """Forget every compiled ceiling and its memos (benchmarks measure cold decisions)."""
    _by_identity.clear()
    _compile_by_value.cache_clear()
