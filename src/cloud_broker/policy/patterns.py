"""IAM glob patterns: exact matching, intersection and inclusion of their languages.

In IAM, ``*`` matches any sequence (empty included, crossing ``:`` and ``/``) and ``?``
exactly one character. There is no escape: a ``*`` in a pattern is always a wildcard, so
deciding "does this ceiling pattern cover that requested pattern" is a question about
languages, not strings. Regex translation or prefix heuristics get it wrong at the edges,
and a wrong "covered" answer means an auto-approved grant nobody meant to give.

Each pattern becomes a position NFA held as bitmasks (bit ``i`` = "``pattern[:i]`` consumed").
Matching simulates it, linear in ``len(pattern) * len(text)`` (no backtracking blow-up on
agent input). ``contains`` searches the product of the inner NFA with the lazily built
subset construction of the outer one, over a symbolic alphabet: the literal characters the
patterns wait for, plus one class standing for every other character, which both automata
treat alike. ``intersects`` runs one pattern, read as tokens, through the subset construction
of the other. Cheap sufficient and necessary tests settle most questions before any search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

GLOB_CHARS = frozenset("*?")
_CACHE_SIZE = 1 << 16
_OTHER = None  # the symbol for "any character literal in neither pattern"


def has_glob(pattern: str) -> bool:
    """True when ``pattern`` can match more than the one string it spells."""
    return "*" in pattern or "?" in pattern


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


@dataclass(frozen=True, slots=True)
class _Nfa:
    literal: dict[str, int]  # char -> positions holding that literal
    any_one: int  # positions holding '?'
    star: int  # positions holding '*'
    start: int
    accept: int

    def closure(self, states: int) -> int:
        # Runs of '*' are collapsed at compile time, so one epsilon step suffices.
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


def _collapse_stars(pattern: str) -> str:
    while "**" in pattern:
        pattern = pattern.replace("**", "*")
    return pattern


@lru_cache(maxsize=_CACHE_SIZE)
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


def _prepare(pattern: str, ignore_case: bool) -> str:
    return _collapse_stars(fold(pattern) if ignore_case else pattern)


def matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether IAM would match ``text`` (a concrete name or ARN) against ``pattern``."""
    return _matches(pattern, text, ignore_case)


def matcher(pattern: str, *, ignore_case: bool = False) -> Callable[[str], bool]:
    """``matches`` bound to one pattern, answers not memoised: for scanning many names once
    (catalogue expansion) without flushing the shared answer cache."""
    prepared = _prepare(pattern, ignore_case)
    if ignore_case:
        return lambda text: _match_prepared(prepared, fold(text))
    return lambda text: _match_prepared(prepared, text)


@lru_cache(maxsize=_CACHE_SIZE)
def _matches(pattern: str, text: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, text = fold(pattern), fold(text)
    return _match_prepared(_collapse_stars(pattern), text)


def _match_prepared(pattern: str, text: str) -> bool:
    if not has_glob(pattern):
        return pattern == text
    if pattern == "*":
        return True
    if "?" not in pattern:
        return _match_stars(pattern.split("*"), text)
    if not (text.startswith(literal_prefix(pattern)) and text.endswith(literal_suffix(pattern))):
        return False
    nfa = _compile(pattern)
    states = nfa.start
    for char in text:
        states = nfa.step(states, char)
        if not states:
            return False
    return bool(states & nfa.accept)


def _match_stars(parts: list[str], text: str) -> bool:
    # With '*' as the only wildcard, taking each literal part at its leftmost place after the
    # previous one is optimal (any later place leaves less room), so str.find decides.
    head, *middle, tail = parts
    start, end = len(head), len(text) - len(tail)
    if end < start or not (text.startswith(head) and text.endswith(tail)):
        return False
    for part in middle:
        found = text.find(part, start, end)
        if found == -1:
            return False
        start = found + len(part)
    return True


def contains(outer: str, inner: str, *, ignore_case: bool = False) -> bool:
    """Whether every string ``inner`` matches is also matched by ``outer``.

    This is what "the ceiling covers the request" means: ``inner`` is treated as a pattern
    (its ``*`` is a wildcard, never a literal star).
    """
    return _contains(_prepare(outer, ignore_case), _prepare(inner, ignore_case))


@lru_cache(maxsize=_CACHE_SIZE)
def _contains(outer: str, inner: str) -> bool:
    if outer == inner or outer == "*":
        return True
    if not has_glob(inner):
        return _matches(outer, inner, False)
    if not has_glob(outer):
        return False  # inner matches infinitely many strings, outer exactly one
    if not literal_prefix(inner).startswith(literal_prefix(outer)):
        return False
    if not literal_suffix(inner).endswith(literal_suffix(outer)):
        return False
    nfa = _compile(outer)
    if _covers_symbolically(nfa, inner):
        return True
    if not _accepts_witnesses(nfa, inner):
        return False
    return _automaton_contains(nfa, inner)


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


def _automaton_contains(outer: _Nfa, inner: str) -> bool:
    """Exact test: walk ``inner``'s NFA (one position at a time, nondeterministically) in
    lock-step with the subset construction of ``outer``, looking for a string ``inner``
    accepts and ``outer`` does not. From a position reading a wildcard, only the literals
    ``outer`` is waiting for, plus one "other character", can lead to different states."""
    end = len(inner)
    start = (0, outer.start)
    seen = {start}
    stack = [start]
    while stack:
        position, states = stack.pop()
        if not states or (position == end and not states & outer.accept):
            return False  # a live inner position can always still reach its end
        for successor in _inner_moves(outer, inner, position, states):
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


def intersects(a: str, b: str, *, ignore_case: bool = False) -> bool:
    """Whether some string is matched by both ``a`` and ``b``."""
    a, b = _prepare(a, ignore_case), _prepare(b, ignore_case)
    return _intersects(a, b) if a <= b else _intersects(b, a)


@lru_cache(maxsize=_CACHE_SIZE)
def _intersects(a: str, b: str) -> bool:
    if a == b or a == "*" or b == "*":
        return True  # every glob matches at least one string
    if not has_glob(b):
        return _matches(a, b, False)
    if not has_glob(a):
        return _matches(b, a, False)
    # Each language is anchored on its literal prefix and suffix: they can only meet if one
    # prefix extends the other, and likewise for the suffixes.
    head_a, head_b = literal_prefix(a), literal_prefix(b)
    if not (head_a.startswith(head_b) or head_b.startswith(head_a)):
        return False
    tail_a, tail_b = literal_suffix(a), literal_suffix(b)
    if not (tail_a.endswith(tail_b) or tail_b.endswith(tail_a)):
        return False
    return _automaton_intersects(a, b)


def _automaton_intersects(a: str, b: str) -> bool:
    """Read ``a`` as a word of tokens through the subset construction of ``b``: the subset
    holds every ``b`` position some string of ``a`` read so far can reach. A literal moves it
    as usual, ``?`` by any one character, and ``*`` by any string — which from position k
    reaches exactly the positions >= k. Linear in ``len(a)``, and exact: the remaining tokens
    do not care which string led to a position."""
    nfa = _compile(b)
    states = nfa.start
    for char in a:
        if char == "*":
            states = nfa.at_or_after(states)
        else:
            states = nfa.step_any(states) if char == "?" else nfa.step(states, char)
        if not states:
            return False
    return bool(states & nfa.accept)


def cache_clear() -> None:
    """Forget every compiled pattern and memoised answer (benchmarks measure cold runs)."""
    for cached in (_compile, _matches, _contains, _intersects):
        cached.cache_clear()
