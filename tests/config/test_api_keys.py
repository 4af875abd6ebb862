"""Host API keys: generated once, stored hashed, never echoed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud_broker.config import check_config, hash_api_key, new_api_key

from .samples import HOST_KEY, OTHER_KEY, VALID_YAML, line_of, mutate

WriteConfig = Callable[[str], Path]


def test_new_key_is_tlk_and_43_urlsafe_characters() -> None:
    key = new_api_key()
    assert re.fullmatch(r"tlk_[A-Za-z0-9_-]{43}", key)
    assert new_api_key() != key


def test_hash_is_sha256_hex() -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hash_api_key(new_api_key()))
    assert hash_api_key(HOST_KEY) == hash_api_key(HOST_KEY)


def test_malformed_key_cannot_be_hashed_and_is_not_echoed() -> None:
    with pytest.raises(ValueError) as caught:
        hash_api_key("tlk_secret-but-short")
    assert "secret-but-short" not in str(caught.value)


def test_raw_key_pasted_into_the_config_is_refused_without_echoing_it(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, f'api_keys: ["{hash_api_key(HOST_KEY)}"]', f'api_keys: ["{HOST_KEY}"]')
    path = write_config(text)
    [problem] = check_config(path)
    assert problem.startswith(f"{path}:{line_of(text, HOST_KEY)}:16: hosts.0.api_keys.0: this is a raw host API key")
    assert HOST_KEY not in problem


def test_same_key_listed_for_two_hosts_is_refused(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, hash_api_key(OTHER_KEY), hash_api_key(HOST_KEY))
    path = write_config(text)
    line = line_of(text, hash_api_key(HOST_KEY))
    assert check_config(path) == [
        f"{path}:{line}:16: hosts.1.api_keys.0: this key is already listed at hosts.0.api_keys.0"
    ]
