"""A host's keys (at most the current and the next) and its ``tokens_not_before`` kill switch."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud_broker.config import check_config, hash_api_key, load_config, new_api_key

from .samples import HOST_KEY, OTHER_KEY, VALID_YAML, line_of, mutate

WriteConfig = Callable[[str], Path]
RUNNER_KEYS = f'api_keys: ["{hash_api_key(HOST_KEY)}"]'


def _with_keys(*keys: str) -> str:
    listed = ", ".join(f'"{hash_api_key(key)}"' for key in keys)
    return mutate(VALID_YAML, RUNNER_KEYS, f"api_keys: [{listed}]")


def _with_not_before(value: str) -> str:
    return mutate(VALID_YAML, RUNNER_KEYS, f"{RUNNER_KEYS}\n    tokens_not_before: {value}")


def test_a_host_lists_at_most_two_keys_the_current_and_the_next(write_config: WriteConfig) -> None:
    for keys in ((), (HOST_KEY,), (HOST_KEY, new_api_key())):
        assert check_config(write_config(_with_keys(*keys))) == []
    text = _with_keys(HOST_KEY, new_api_key(), new_api_key())
    path = write_config(text)
    [problem] = check_config(path)
    assert problem.startswith(f"{path}:{line_of(text, hash_api_key(HOST_KEY))}:15: hosts.0.api_keys: at most 2 keys per host")
    assert "current key" in problem and "next" in problem
    assert "sha256:" not in problem


def test_each_keys_fingerprint_is_a_short_hash_of_its_stored_hash(write_config: WriteConfig) -> None:
    config = load_config(write_config(_with_keys(HOST_KEY, OTHER_KEY.replace("xyz", "abc"))))
    stored = [hash_api_key(HOST_KEY), hash_api_key(OTHER_KEY.replace("xyz", "abc"))]
    expected = {hashlib.sha256(s.encode()).hexdigest()[:16] for s in stored}
    assert config.host_key_fingerprints("runner-1") == expected
    assert config.host_key_fingerprints("nobody") == frozenset()
    match = config.match_host_key(HOST_KEY)
    assert match is not None and match.host.name == "runner-1"
    assert match.fingerprint == hashlib.sha256(stored[0].encode()).hexdigest()[:16]
    assert config.match_host_key("tlk_" + "x" * 43) is None


@pytest.mark.parametrize("written", [
    "2025-06-01T12:00:00Z", "'2025-06-01T12:00:00Z'", "'2025-06-01T14:00:00+02:00'", "2025-06-01 12:00:00+00:00",
])
def test_tokens_not_before_is_read_as_an_instant_in_utc(write_config: WriteConfig, written: str) -> None:
    config = load_config(write_config(_with_not_before(written)))
    host = config.host("runner-1")
    assert host is not None and host.tokens_not_before == datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert host.tokens_not_before.utcoffset() == timedelta(0)
    assert config.host("web-host").tokens_not_before is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("written", "says"), [
    ("2025-06-01T12:00:00", "the time zone is missing"),
    ("'2025-06-01T12:00:00'", "the time zone is missing"),
    ("2025-06-01", "a date without a time"),
    ("1748779200", "not a timestamp"),
    ("'1748779200'", "expected an ISO-8601 timestamp"),
    ("'next tuesday'", "expected an ISO-8601 timestamp"),
])
def test_tokens_not_before_must_be_a_timestamp_with_its_zone(write_config: WriteConfig, written: str, says: str) -> None:
    text = _with_not_before(written)
    path = write_config(text)
    [problem] = check_config(path)
    assert problem.startswith(f"{path}:{line_of(text, 'tokens_not_before')}:24: hosts.0.tokens_not_before: ")
    assert says in problem and "2025-06-01T12:00:00Z" in problem
