"""IAM wildcard matching without backtracking: each piece of the pattern is placed once.

Why this exists: the obvious implementation -- turn ``*`` into ``.*`` and hand the
result to Python's backtracking ``re`` -- is super-linear on patterns with many
stars. Session policies are written on an agent's behalf and their ``Resource`` and
``StringLike`` values reach this matcher for every request, so a pattern such as
``a*a*a*…a*b`` against a long key would stall the emulator's request thread.

The matcher splits the pattern on ``*`` into fixed-width segments (``?`` matches
exactly one character, everything else itself). The first segment must sit at the
start of the text, the last at its end, and each one between is placed at its
leftmost possible position after the previous one. Leftmost placement is optimal for
fixed-width segments separated by ``*`` -- any match can be shifted left onto it --
so nothing is ever retried: each segment is searched for once, by ``re.search`` on a
star-free (hence backtracking-free) regex, from where the previous segment ended.
The cost is at most ``len(text) × len(pattern)`` character comparisons, done in C.

Narrower than AWS: none known. IAM has no escape for ``*`` or ``?``, and neither
character is special anywhere else, so both are wildcards wherever they appear.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple


def glob_matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match of the whole ``text``: ``*`` any run of characters, ``?`` exactly one."""
    segments = _compile_segments(pattern, ignore_case)
    if len(segments) == 1:
        return segments[0].regex.fullmatch(text) is not None
    head, *middle, tail = segments
    start, end = head.width, len(text) - tail.width
    if end < start or not head.regex.match(text) or not tail.regex.fullmatch(text, end):
        return False
    for segment in middle:
        found = segment.regex.search(text, start, end)
        if found is None:
            return False
        start = found.end()
    return True


class _Segment(NamedTuple):
    """A star-free run of the pattern: a regex of single-character units, and their count."""

    regex: re.Pattern[str]
    width: int


@lru_cache(maxsize=1024)
def _compile_segments(pattern: str, ignore_case: bool) -> tuple[_Segment, ...]:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return tuple(_Segment(re.compile(_segment_regex(part), flags), len(part)) for part in pattern.split("*"))


def _segment_regex(part: str) -> str:
    # Star-free, so the regex has no quantifier and nothing to backtrack into.
    return "".join("." if char == "?" else re.escape(char) for char in part)
