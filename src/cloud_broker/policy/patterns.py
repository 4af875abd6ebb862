"""IAM glob patterns: exact matching, intersection and inclusion of their languages.

In IAM, ``*`` matches any sequence (empty included, crossing ``:`` and ``/``) and ``?``
exactly one character. There is no escape: a ``*`` in a pattern is always a wildcard, so
deciding "does this ceiling pattern cover that requested pattern" is a question about
languages, not strings. Regex translation or prefix heuristics get it wrong at the edges,
and a wrong "covered" answer means an auto-approved grant nobody meant to give.

Patterns are first put in a canonical form (each run of wildcards becomes its ``?``s followed
by one ``*`` if it had any), so equivalent spellings such as ``**``, ``*?`` and ``?*`` cost the
same as the shortest one. Matching a concrete name uses a regular expression whose ``*``
segments are atomic groups: each segment at its leftmost place, which is optimal for ``*``/``?``
globs, so there is no backtracking blow-up on agent input.

``contains`` searches the product of the inner pattern's automaton with the lazily built subset
construction of the outer one, over a symbolic alphabet (the literals the patterns wait for,
plus one class standing for every other character). That search can grow exponentially with
the pattern, so it is paid for from a :class:`~cloud_broker.policy.budget.Budget`: when the
budget runs out the question is *undecided*, which ``contains`` reports as "not contained" and
``intersects`` as "may overlap" — the answers that never let anything through. Cheap sufficient
and necessary tests settle most questions before any search; decided answers are memoised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from cloud_broker.domain.limits import CALL_WORK, MEMO_BYTES, QUESTION_WORK
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.memo import BoundedMemo

GLOB_CHARS = frozenset("*?")
_OTHER = None  # the symbol for "any character literal in neither pattern"
_WILDCARD_RUN = re.compile(r"[*?]{2,}")


def _pair_weight(key: tuple[str, str], _answer: bool) -> int:
    return len(key[0]) + len(key[1]) + 100


_contained: BoundedMemo[tuple[str, str], bool] = BoundedMemo(MEMO_BYTES, _pair_weight)
_overlapping: BoundedMemo[tuple[str, str], bool] = BoundedMemo(MEMO_BYTES, _pair_weight)


def has_glob(pattern: str) -> bool:
    """True when ``pattern`` can match more than the one string it spells."""
    return "*" in pattern or "?" in pattern


@lru_cache(maxsize=2048)
def canonical(pattern: str) -> str:
    """The same language, spelt one way: ``a**b``, ``a*?b`` and ``a?*b`` all become ``a?*b``.
    (Memoised, at most 2,048 patterns of at most 2,048 characters: every question asks it.)"""
    if "**" not in pattern and "*?" not in pattern:
        return pattern
    return _WILDCARD_RUN.sub(_canonical_run, pattern)


def unique(patterns: Iterable[str], *, ignore_case: bool = False) -> tuple[str, ...]:
    """Each pattern once, canonically spelt, in first-seen order; with ``ignore_case`` (IAM
    action names) spellings differing only in case are one, and the first is kept."""
    first: dict[str, str] = {}
    for pattern in patterns:
        spelt = canonical(pattern)
        first.setdefault(fold(spelt) if ignore_case else spelt, spelt)
    return tuple(first.values())


def _canonical_run(run: re.Match[str]) -> str:
    text = run.group()
    return "?" * text.count("?") + ("*" if "*" in text else "")


def literal_prefix(pattern: str) -> str:
    """The characters before the first wildcard: every match starts with them."""
    cut = len(pattern)
    for glob in GLOB_CHARS:
        found = pattern.find(glob, 0, cut)
        if found != -1:
            cut = found
    return pattern[:cut]


def literal_suffix(pattern: str) -> str:
    """The characters after the last wildcard: every match ends with them."""
    return pattern[max(pattern.rfind("*"), pattern.rfind("?")) + 1 :]


def fold(text: str) -> str:
    """Lower-case without changing the length, so ``?`` still means one character."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _prepare(pattern: str, ignore_case: bool) -> str:
    return canonical(fold(pattern) if ignore_case else pattern)


# --- Matching a concrete string -------------------------------------------------------------


def matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether IAM would match ``text`` (a concrete name or ARN) against ``pattern``."""
    if ignore_case:
        pattern, text = fold(pattern), fold(text)
    return _regex(canonical(pattern)).fullmatch(text) is not None


def matches_star(pattern: str) -> bool:
    """Whether ``pattern`` matches the one-character string ``*`` (the resource IAM evaluates
    actions that support no resource type against): only ``*``, ``?`` and ``?*`` do."""
    return canonical(pattern) in ("*", "?", "?*")


def matcher(pattern: str, *, ignore_case: bool = False) -> Callable[[str], bool]:
    """``matches`` bound to one pattern: for scanning many names (catalogue expansion)."""
    match = _regex(_prepare(pattern, ignore_case)).fullmatch
    if ignore_case:
        return lambda text: match(fold(text)) is not None
    return lambda text: match(text) is not None


_regexes: BoundedMemo[str, re.Pattern[str]] = BoundedMemo(MEMO_BYTES, lambda p, _r: 16 * len(p) + 1000)


def _regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` (canonical) as a regular expression that cannot backtrack badly: the first
    segment anchored, each middle one an atomic group at its leftmost place, the last anchored
    at the end. Leftmost placement is optimal because segments have fixed lengths."""
    found = _regexes.get(pattern)
    if found is None:
        segments = [_segment(part) for part in pattern.split("*")]
        if len(segments) == 1:
            found = re.compile(rf"\A{segments[0]}\Z", re.DOTALL)
        else:
            middle = "".join(f"(?>.*?{segment})" for segment in segments[1:-1])
            found = re.compile(rf"\A{segments[0]}{middle}.*{segments[-1]}\Z", re.DOTALL)
        _regexes.put(pattern, found)
    return found


def _segment(part: str) -> str:
    return "".join("." if char == "?" else re.escape(char) for char in part)


# --- Automata for inclusion and intersection ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Nfa:
    literal: dict[str, int]  # char -> positions holding that literal
    any_one: int  # positions holding '?'
    star: int  # positions holding '*'
    start: int
    accept: int

    def closure(self, states: int) -> int:
        # Canonical patterns have no '**', so one epsilon step suffices.
        return states | ((states & self.star) << 1)

    def awaited(self, states: int) -> list[str | None]:
        """The characters that can move ``states`` differently: literals at those positions,
        plus the class of every other character."""
        return [char for char, mask in self.literal.items() if mask & states] + [_OTHER]

    def step(self, states: int, char: str | None) -> int:
        advancing = states & (self.literal.get(char, 0) | self.any_one)  # type: ignore[arg-type]
        return self.closure((advancing << 1) | (states & self.star))

    def step_any(self, states: int) -> int:
        """Positions reachable by some one character: every non-star position advances."""
        return self.closure(((states & ~self.star & (self.accept - 1)) << 1) | (states & self.star))

    def at_or_after(self, states: int) -> int:
        """Positions reachable by some string: all from the lowest one on."""
        if not states:
            return 0
        return (self.accept << 1) - (states & -states)

    def accepts(self, text: str) -> bool:
        literal, any_one, star = self.literal, self.any_one, self.star
        states = self.start
        for char in text:
            moved = ((states & (literal.get(char, 0) | any_one)) << 1) | (states & star)
            states = moved | ((moved & star) << 1)
            if not states:
                return False
        return bool(states & self.accept)


def _automaton_bytes(pattern: str, nfa: _Nfa) -> int:
    """An automaton holds one bit mask of ``len(pattern)`` bits per distinct literal."""
    return (len(pattern) // 8 + 32) * (len(nfa.literal) + 3)


_automata: BoundedMemo[str, _Nfa] = BoundedMemo(MEMO_BYTES, _automaton_bytes)


def _automaton(pattern: str, budget: Budget) -> _Nfa | None:
    """The compiled automaton of ``pattern``, or None when the budget cannot pay for building it:
    a pass over the pattern, and a mask per distinct character (a pattern of 2,048 distinct
    characters costs as much as its masks weigh)."""
    nfa = _automata.get(pattern)
    if nfa is None:
        if not budget.take(len(pattern) // 8 * (1 + len(set(pattern)) // 16)):
            return None
        nfa = _compile(pattern)
        _automata.put(pattern, nfa)
    return nfa


def _compile(pattern: str) -> _Nfa:
    literal: dict[str, int] = {}
    any_one = star = 0
    for i, char in enumerate(pattern):
        bit = 1 << i
        if char == "*":
            star |= bit
        elif char == "?":
            any_one |= bit
        else:
            literal[char] = literal.get(char, 0) | bit
    nfa = _Nfa(literal, any_one, star, 1, 1 << len(pattern))
    return _Nfa(literal, any_one, star, nfa.closure(1), nfa.accept)


def contains(outer: str, inner: str, *, ignore_case: bool = False, budget: Budget | None = None) -> bool:
    """Whether every string ``inner`` matches is also matched by ``outer``; False when that
    could not be proven within ``budget`` (a fresh ``CALL_WORK`` allowance if none).

    This is what "the ceiling covers the request" means: ``inner`` is treated as a pattern
    (its ``*`` is a wildcard, never a literal star).
    """
    return containment(outer, inner, ignore_case=ignore_case, budget=budget) is True


def containment(outer: str, inner: str, *, ignore_case: bool = False, budget: Budget | None = None) -> bool | None:
    """``contains`` with the undecided case visible: None when the budget ran out.

    A question costs a unit even when the memo answers it, and ``QUESTION_WORK`` more when it
    does not (preparing two patterns of up to 2,048 characters is work too); once the budget
    is spent the answer is None at once, without preparing anything."""
    budget = budget or Budget(CALL_WORK)
    if not budget.take(1):
        return None
    key = (_prepare(outer, ignore_case), _prepare(inner, ignore_case))
    found = _contained.get(key)
    if found is not None:
        return found
    if not budget.take(QUESTION_WORK):
        return None
    answer = _decide_containment(*key, budget)
    if answer is not None:
        _contained.put(key, answer)
    return answer


def _decide_containment(outer: str, inner: str, budget: Budget) -> bool | None:
    if outer == inner or outer == "*":
        return True
    if not has_glob(outer):
        return False if has_glob(inner) else outer == inner
    if not literal_prefix(inner).startswith(literal_prefix(outer)):
        return False
    if not literal_suffix(inner).endswith(literal_suffix(outer)):
        return False
    nfa = _automaton(outer, budget)
    if nfa is None:
        return None
    if not has_glob(inner):
        return nfa.accepts(inner) if budget.take(len(inner)) else None
    if not budget.take(3 * len(inner)):
        return None
    if _covers_symbolically(nfa, inner):
        return True
    if not _accepts_witnesses(nfa, inner):
        return False
    return _automaton_contains(nfa, inner, budget)


def _covers_symbolically(outer: _Nfa, inner: str) -> bool:
    """Sufficient test: ``outer`` matches ``inner`` read as a word whose wildcards are opaque
    tokens — only an outer ``*`` may absorb an inner ``*``, only an outer ``?`` or ``*`` an
    inner ``?``. Any string of ``inner`` is then matched along the same alignment."""
    states = outer.start
    for char in inner:
        if char == "*":
            states = outer.closure(states & outer.star)
        else:
            states = outer.step(states, _OTHER if char == "?" else char)
        if not states:
            return False
    return bool(states & outer.accept)


def _accepts_witnesses(outer: _Nfa, inner: str) -> bool:
    """Necessary test: two strings of ``inner`` — each wildcard as one foreign character, and
    each ``*`` as empty — must be matched. Rejects most non-inclusions in linear time."""
    for star_as_char in (True, False):
        states = outer.start
        for char in inner:
            if char == "*" and not star_as_char:
                continue
            states = outer.step(states, _OTHER if char in GLOB_CHARS else char)
        if not states & outer.accept:
            return False
    return True


def _automaton_contains(outer: _Nfa, inner: str, budget: Budget) -> bool | None:
    """Exact test: walk ``inner``'s NFA (one position at a time, nondeterministically) in
    lock-step with the subset construction of ``outer``, looking for a string ``inner``
    accepts and ``outer`` does not. From a position reading a wildcard, only the literals
    ``outer`` is waiting for, plus one "other character", can lead to different states.
    Each visited state costs its number of successors; None when the budget runs out."""
    end = len(inner)
    start = (0, outer.start)
    seen = {start}
    stack = [start]
    while stack:
        position, states = stack.pop()
        if not states or (position == end and not states & outer.accept):
            return False  # a live inner position can always still reach its end
        moves = _inner_moves(outer, inner, position, states)
        if not budget.take(1 + len(moves)):
            return None
        for successor in moves:
            if successor not in seen:
                seen.add(successor)
                stack.append(successor)
    return True


def _inner_moves(outer: _Nfa, inner: str, position: int, states: int) -> list[tuple[int, int]]:
    if position == len(inner):
        return []
    char = inner[position]
    if char not in GLOB_CHARS:
        return [(position + 1, outer.step(states, char))]
    after = position if char == "*" else position + 1
    moves = [(after, outer.step(states, c)) for c in outer.awaited(states)]
    if char == "*":
        moves.append((position + 1, states))  # the star matches the empty string
    return moves


def intersects(a: str, b: str, *, ignore_case: bool = False, budget: Budget | None = None) -> bool:
    """Whether some string is matched by both ``a`` and ``b``; True when that could not be
    settled within ``budget`` (overlap is the safe assumption for a denylist or a grant)."""
    return overlap(a, b, ignore_case=ignore_case, budget=budget) is not False


def overlap(a: str, b: str, *, ignore_case: bool = False, budget: Budget | None = None) -> bool | None:
    """``intersects`` with the undecided case visible: None when the budget ran out (priced as
    ``containment`` is)."""
    budget = budget or Budget(CALL_WORK)
    if not budget.take(1):
        return None
    a, b = _prepare(a, ignore_case), _prepare(b, ignore_case)
    key = (a, b) if a <= b else (b, a)
    found = _overlapping.get(key)
    if found is not None:
        return found
    if not budget.take(QUESTION_WORK):
        return None
    answer = _decide_overlap(*key, budget)
    if answer is not None:
        _overlapping.put(key, answer)
    return answer


def _decide_overlap(a: str, b: str, budget: Budget) -> bool | None:
    if a == b or a == "*" or b == "*":
        return True  # every glob matches at least one string
    if not has_glob(a) or not has_glob(b):
        text, pattern = (a, b) if not has_glob(a) else (b, a)
        nfa = _automaton(pattern, budget)
        return nfa.accepts(text) if nfa is not None and budget.take(len(text)) else None
    # Each language is anchored on its literal prefix and suffix: they can only meet if one
    # prefix extends the other, and likewise for the suffixes.
    head_a, head_b = literal_prefix(a), literal_prefix(b)
    if not (head_a.startswith(head_b) or head_b.startswith(head_a)):
        return False
    tail_a, tail_b = literal_suffix(a), literal_suffix(b)
    if not (tail_a.endswith(tail_b) or tail_b.endswith(tail_a)):
        return False
    tokens, automaton = (a, b) if len(a) <= len(b) else (b, a)
    nfa = _automaton(automaton, budget)
    return _automaton_intersects(tokens, nfa) if nfa is not None and budget.take(len(tokens)) else None


def _automaton_intersects(a: str, nfa: _Nfa) -> bool:
    """Read ``a`` as a word of tokens through the subset construction of ``b``: the subset
    holds every ``b`` position some string of ``a`` read so far can reach. A literal moves it
    as usual, ``?`` by any one character, and ``*`` by any string — which from position k
    reaches exactly the positions >= k. Linear in ``len(a)``, and exact: the remaining tokens
    do not care which string led to a position. (``_Nfa``'s steps, inlined: this loop is the
    engine's hottest.)"""
    literal, any_one, star, accept = nfa.literal, nfa.any_one, nfa.star, nfa.accept
    movable = ~star & (accept - 1)
    states = nfa.start
    for char in a:
        if char == "*":
            states = (accept << 1) - (states & -states)
            continue
        if char == "?":
            moved = ((states & movable) << 1) | (states & star)
        else:
            moved = ((states & (literal.get(char, 0) | any_one)) << 1) | (states & star)
        states = moved | ((moved & star) << 1)
        if not states:
            return False
    return bool(states & accept)


def cache_clear() -> None:
    """Forget every compiled pattern and memoised answer (benchmarks measure cold runs)."""
    for memo in (_regexes, _automata, _contained, _overlapping):
        memo.clear()
    canonical.cache_clear()
