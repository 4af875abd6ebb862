from __future__ import annotations

import itertools
import re
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_broker.policy.patterns import contains, intersects, matches

# --- matches -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("s3:*", "s3:GetObject"),
        ("arn:aws:s3:::reports/*", "arn:aws:s3:::reports/2024/q1.csv"),
        ("arn:aws:*", "arn:aws:logs:us-east-1:123456789012:log-group:x:*"),  # * crosses : and /
        ("s3:Get?bject", "s3:GetObject"),
        ("*", ""),
        ("a*", "a"),
    ],
)
def test_star_matches_any_sequence_and_question_mark_one_character(pattern: str, text: str) -> None:
    assert matches(pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [("s3:Get?bject", "s3:GetObbject"), ("a?", "a"), ("s3:GetObject", "s3:GetObjects"), ("s3:Get*", "S3:GetObject")],
)
def test_matching_is_exact_and_case_sensitive_by_default(pattern: str, text: str) -> None:
    assert not matches(pattern, text)


def test_matching_can_ignore_case_for_action_names() -> None:
    assert matches("S3:get*", "s3:GetObject", ignore_case=True)


def test_a_star_in_the_text_is_just_a_character_to_match() -> None:
    assert matches("a?", "a*")
    assert not matches("ab", "a*")


def test_matching_stays_linear_on_backtracking_bait() -> None:
    # A backtracking matcher takes exponential time here; the NFA answers at once.
    assert not matches("*a*a*a*a*a*a*a*a*a*b", "a" * 200)


# --- contains ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        ("a*", "a*b"),
        ("a*", "a?"),
        ("a*", "a"),
        ("*", "anything:at/all*"),
        ("arn:aws:s3:::reports*", "arn:aws:s3:::reports/*"),
        ("*a*", "*a*a*"),
        ("??*", "*??"),  # both: at least two characters
        ("a**b", "a*b"),
        ("arn:aws:s3:::reports/*", "arn:aws:s3:::reports/2024/*"),
    ],
)
def test_outer_contains_every_string_of_inner(outer: str, inner: str) -> None:
    assert contains(outer, inner)


@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        ("a*b", "a*"),
        ("a?", "a*"),
        ("a?", "a"),
        ("arn:aws:s3:::reports/*", "arn:aws:s3:::reports*"),
        ("arn:aws:s3:::reports/*", "arn:aws:s3:::reports"),
        ("*ab*", "*a*b*"),
        ("abc", "*"),
        ("a*", "*"),
    ],
)
def test_outer_misses_some_string_of_inner(outer: str, inner: str) -> None:
    assert not contains(outer, inner)


def test_a_star_in_the_inner_pattern_is_never_read_as_a_literal() -> None:
    # The string "a*" is matched by "a?", but the pattern "a*" also means "abc".
    assert matches("a?", "a*")
    assert not contains("a?", "a*")
    assert not contains("a\\*", "a*")  # and there is no escape to make it literal


def test_containment_of_action_patterns_can_ignore_case() -> None:
    assert contains("S3:Get*", "s3:getobj*", ignore_case=True)
    assert not contains("S3:Get*", "s3:getobj*")


# --- intersects ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [("iam:*", "iam:PassRole"), ("iam:Pass*", "*Role"), ("a*b", "*c*"), ("?", "*"), ("arn:*:s3:::*/*", "arn:aws:s3:::r*")],
)
def test_patterns_that_share_a_string_intersect(a: str, b: str) -> None:
    assert intersects(a, b)
    assert intersects(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [("a*b", "*c"), ("s3:*", "iam:*"), ("??", "???*"), ("arn:*:s3:::*/*", "arn:aws:s3:::reports"), ("a?c", "*b")],
)
def test_patterns_with_no_common_string_do_not_intersect(a: str, b: str) -> None:
    assert not intersects(a, b)
    assert not intersects(b, a)


def test_intersection_of_action_patterns_can_ignore_case() -> None:
    assert intersects("IAM:passrole", "iam:*", ignore_case=True)
    assert not intersects("IAM:passrole", "iam:*")


# --- agreement with brute force --------------------------------------------------------------
# Patterns over {a, b, /, *, ?}; strings over {a, b, /, c}, where c stands for every character
# the patterns never name. Shortest witnesses for patterns of <= 4 characters are <= 6 long
# (checked exhaustively), so strings up to 7 decide every question exactly.

PATTERN_CHARS = "ab/*?"
STRINGS = tuple("".join(t) for n in range(8) for t in itertools.product("ab/c", repeat=n))
patterns = st.text(alphabet=PATTERN_CHARS, max_size=4)


@cache
def language(pattern: str) -> frozenset[str]:
    compiled = re.compile(_regex(pattern), re.DOTALL)
    return frozenset(s for s in STRINGS if compiled.fullmatch(s))


@settings(max_examples=500, deadline=None)
@given(patterns, patterns)
def test_contains_and_intersects_agree_with_enumeration(p: str, q: str) -> None:
    assert contains(p, q) == (language(q) <= language(p))
    assert intersects(p, q) == bool(language(p) & language(q))


@settings(max_examples=200, deadline=None)
@given(patterns, st.text(alphabet="ab/c*", max_size=7))
def test_matches_agrees_with_enumeration(p: str, text: str) -> None:
    assert matches(p, text) == bool(re.fullmatch(_regex(p), text, re.DOTALL))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="aAb*?", max_size=4), st.text(alphabet="aAb*?", max_size=4))
def test_ignoring_case_is_deciding_on_lower_case(p: str, q: str) -> None:
    assert contains(p, q, ignore_case=True) == contains(p.lower(), q.lower())
    assert intersects(p, q, ignore_case=True) == intersects(p.lower(), q.lower())


def test_every_pair_of_short_patterns_agrees_with_enumeration() -> None:
    short = ["".join(t) for n in range(4) for t in itertools.product(PATTERN_CHARS, repeat=n)]
    for p, q in itertools.product(short, repeat=2):
        assert contains(p, q) == (language(q) <= language(p)), (p, q)
        assert intersects(p, q) == bool(language(p) & language(q)), (p, q)


def _regex(pattern: str) -> str:
    """The reference semantics, used only as a test oracle on tiny inputs."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
