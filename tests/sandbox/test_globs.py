"""IAM wildcard matching: exact, and linear where a backtracking regex is exponential."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_broker.sandbox.conditions import glob_matches  # re-exported from sandbox.globs


def reference_match(pattern: str, text: str) -> bool:
    """The textbook dynamic programme over (pattern, text) positions -- slow, obviously right."""

    @cache
    def matches(p: int, t: int) -> bool:
        if p == len(pattern):
            return t == len(text)
        if pattern[p] == "*":
            return matches(p + 1, t) or (t < len(text) and matches(p, t + 1))
        return t < len(text) and pattern[p] in ("?", text[t]) and matches(p + 1, t + 1)

    return matches(0, 0)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("", "", True),
        ("*", "", True),
        ("?", "", False),
        ("a*a", "a", False),  # head and tail may not overlap
        ("a*a", "aa", True),
        ("ab*bc", "abc", False),
        ("ab*bc", "abbc", True),
        ("*a*b*", "xxbxxa", False),  # order matters
        ("*a*b*", "xxaxxb", True),
        ("a?c*", "abc", True),
        ("a?c*", "ac", False),
        ("arn:aws:s3:::reports/*", "arn:aws:s3:::reports/2025/q3.csv", True),
        ("arn:aws:s3:::reports/*/q?.csv", "arn:aws:s3:::reports/2025/q3.csv", True),
        ("arn:aws:s3:::reports/*/q?.csv", "arn:aws:s3:::reports/q3.csv", False),
        ("a.c", "abc", False),  # regex metacharacters are literal
        ("[ab]", "a", False),
        ("line*end", "line\nend", True),  # '*' crosses newlines too
    ],
)
def test_glob_matches_the_documented_examples(pattern: str, text: str, expected: bool) -> None:
    """IAM: '*' is any run of characters (including none), '?' exactly one, all else literal."""
    assert glob_matches(pattern, text) is expected


def test_case_is_ignored_only_when_asked() -> None:
    """Action names match case-insensitively, ARNs case-sensitively (IAM User Guide, Action/Resource)."""
    assert glob_matches("s3:get*", "s3:GetObject", ignore_case=True)
    assert not glob_matches("s3:get*", "s3:GetObject")


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text(alphabet="ab*?", max_size=12),
    text=st.text(alphabet="ab", max_size=12),
)
def test_glob_matches_agrees_with_the_reference_on_any_small_input(pattern: str, text: str) -> None:
    """Leftmost segment placement decides exactly what the full search decides."""
    assert glob_matches(pattern, text) is reference_match(pattern, text)


@pytest.mark.timeout(10)  # a hang guard only: the old `.*` regex runs for hours on these
@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("a*" * 1000 + "b", "a" * 2000, False),
        ("*a" * 999 + "*b*", "a" * 2000, False),
        ("a*" * 1000 + "a", "a" * 2000, True),
        ("*" + "?a" * 999 + "*b", "a" * 2000, False),
    ],
    ids=["stars-then-missing-tail", "stars-then-missing-middle", "stars-that-match", "question-marks"],
)
def test_a_hostile_2000_character_pattern_against_2000_characters_completes(
    pattern: str, text: str, expected: bool
) -> None:
    """An agent-written session policy may hold such a pattern; deciding it must not stall the
    emulator. Completing at all is the proof: backtracking would explore ~2^1000 placements."""
    assert len(pattern) >= 2000 and len(text) == 2000
    assert glob_matches(pattern, text) is expected
