"""Vault: sealing credentials, the master key, secret_ref and masking."""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from cloud_broker.errors import BrokerError, InvalidInput
from cloud_broker.vault import (
    MASTER_KEY_ENV,
    PREVIOUS_KEYS_DIR,
    PREVIOUS_KEYS_ENV,
    SealedSecret,
    UnknownKey,
    Vault,
    VaultError,
    format_secret_ref,
    key_id_of,
    mask,
    new_key_file,
    parse_secret_ref,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SECRET = b'{"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI"}'


@pytest.fixture
def vault() -> Vault:
    return Vault(KEY)


def test_sealed_secret_opens_for_the_same_grant(vault: Vault) -> None:
    sealed = vault.seal("grant-1", SECRET)
    assert vault.open("grant-1", sealed) == SECRET
    assert SECRET not in sealed.blob


def test_each_seal_uses_a_fresh_nonce(vault: Vault) -> None:
    first, second = vault.seal("grant-1", SECRET), vault.seal("grant-1", SECRET)
    assert first.blob[:12] != second.blob[:12]
    assert first.blob != second.blob


def test_key_id_is_the_sha256_prefix_of_the_key(vault: Vault) -> None:
    sealed = vault.seal("grant-1", SECRET)
    assert sealed.key_id == vault.key_id == key_id_of(KEY)
    assert len(sealed.key_id) == 16 and int(sealed.key_id, 16) >= 0


def test_ciphertext_moved_to_another_grant_fails(vault: Vault) -> None:
    sealed = vault.seal("grant-1", SECRET)
    with pytest.raises(VaultError, match="grant-2"):
        vault.open("grant-2", sealed)


@pytest.mark.parametrize("position", [0, 12, -1])
def test_tampered_blob_fails(vault: Vault, position: int) -> None:
    sealed = vault.seal("grant-1", SECRET)
    blob = bytearray(sealed.blob)
    blob[position] ^= 0x01
    with pytest.raises(VaultError):
        vault.open("grant-1", replace(sealed, blob=bytes(blob)))


def test_truncated_blob_fails(vault: Vault) -> None:
    with pytest.raises(VaultError, match="truncated"):
        vault.open("grant-1", SealedSecret(key_id=vault.key_id, blob=b"short"))


def test_secret_sealed_with_another_key_fails(vault: Vault) -> None:
    sealed = Vault(OTHER_KEY).seal("grant-1", SECRET)
    with pytest.raises(VaultError, match="key"):
        vault.open("grant-1", sealed)


def test_wrong_key_fails_even_when_the_key_id_is_forged(vault: Vault) -> None:
    sealed = Vault(OTHER_KEY).seal("grant-1", SECRET)
    with pytest.raises(VaultError, match="authentication"):
        vault.open("grant-1", replace(sealed, key_id=vault.key_id))


def test_vault_error_is_a_broker_error() -> None:
    assert issubclass(VaultError, BrokerError)


def test_repr_does_not_show_the_key(vault: Vault) -> None:
    assert KEY.hex() not in repr(vault) and vault.key_id in repr(vault)


def test_key_of_wrong_length_is_refused() -> None:
    with pytest.raises(VaultError, match="32 bytes"):
        Vault(b"too short")


def test_key_comes_from_the_environment(tmp_path: Path) -> None:
    env = {MASTER_KEY_ENV: base64.b64encode(KEY).decode()}
    vault = Vault.from_environment(tmp_path / "master.key", env)
    assert vault.key_id == key_id_of(KEY)
    assert not (tmp_path / "master.key").exists()


@pytest.mark.parametrize(
    "value",
    [
        "c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0",  # valid base64, 30 bytes
        "not base64 at all!!! but long enough to matter",
        base64.b64encode(bytes(33)).decode(),
        "",
    ],
)
def test_bad_environment_key_is_refused_without_echoing_it(tmp_path: Path, value: str) -> None:
    with pytest.raises(VaultError) as caught:
        Vault.from_environment(tmp_path / "master.key", {MASTER_KEY_ENV: value})
    message = str(caught.value)
    assert MASTER_KEY_ENV in message and "32" in message
    if value:
        assert value not in message
    assert caught.value.__cause__ is None


def test_key_file_is_created_with_mode_0600_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "master.key"
    first = Vault.from_environment(key_file, {})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    second = Vault.from_environment(key_file, {})
    assert second.key_id == first.key_id
    assert second.open("grant-1", first.seal("grant-1", SECRET)) == SECRET


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(KEY)
    key_file.chmod(mode)
    with pytest.raises(VaultError, match="chmod 600"):
        Vault.from_environment(key_file, {})


def test_key_file_of_wrong_length_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"0" * 31)
    os.close(fd)
    with pytest.raises(VaultError, match="exactly 32 bytes"):
        Vault.from_environment(key_file, {})


def test_key_file_creation_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.symlink_to(tmp_path / "elsewhere.key")
    with pytest.raises(VaultError, match="dangling symbolic link"):
        Vault.from_environment(key_file, {})
    assert not (tmp_path / "elsewhere.key").exists()


def test_existing_key_file_is_used(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, KEY)
    os.close(fd)
    assert Vault.from_environment(key_file, {}).key_id == key_id_of(KEY)


def test_secret_ref_roundtrips() -> None:
    ref = format_secret_ref("aws", "run_01HZX", "0b4e2c1a-6f3d-4a8e-9c57-2d1f0e9b7a63")
    assert ref == "secret_ref://aws/runs/run_01HZX/0b4e2c1a-6f3d-4a8e-9c57-2d1f0e9b7a63"
    assert parse_secret_ref(ref) == ("aws", "run_01HZX", "0b4e2c1a-6f3d-4a8e-9c57-2d1f0e9b7a63")


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "secret_ref://aws/runs/r1",
        "secret_ref://aws/runs/r1/",
        "secret_ref://aws/runs//g1",
        "secret_ref://aws/run/r1/g1",
        "secret_ref://AWS/runs/r1/g1",
        "secret-ref://aws/runs/r1/g1",
        "secret_ref://aws/runs/r1/g1/extra",
        "secret_ref://aws/runs/../g1",
        "secret_ref://aws/runs/r1/g1\n",
        " secret_ref://aws/runs/r1/g1",
        "secret_ref://aws/runs/r1/" + "g" * 129,
    ],
)
def test_malformed_secret_ref_is_refused(ref: str) -> None:
    with pytest.raises(InvalidInput, match="secret_ref://<provider>/runs/<run_id>/<grant_id>"):
        parse_secret_ref(ref)


def test_secret_ref_is_not_built_from_unsafe_parts() -> None:
    with pytest.raises(ValueError):
        format_secret_ref("aws", "run/1", "g1")


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJal…"),
        ("ASIA" + "IOSFODNN7EXAMPLE", "ASIA…"),
        ("short-secret", "****"),
        ("", "****"),
    ],
)
def test_mask_shows_at_most_a_short_hint(secret: str, shown: str) -> None:
    assert mask(secret) == shown


def _key_id_from(path: str) -> str:
    from cloud_broker.vault import Vault

    return Vault.from_environment(Path(path), {}).key_id


def test_processes_racing_to_create_the_key_file_all_get_the_same_key(tmp_path: Path) -> None:
    import multiprocessing

    path = str(tmp_path / "state" / "master.key")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        key_ids = pool.map(_key_id_from, [path] * 8)
    assert len(set(key_ids)) == 1
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["master.key"], "no temporary file is left"


# The keyring: one current key seals, previous keys only open.

THIRD_KEY = bytes(range(2, 34))


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_the_current_key_seals_and_a_previous_key_still_opens_what_it_sealed() -> None:
    old_sealed = Vault(OTHER_KEY).seal("grant-1", SECRET)
    ring = Vault(KEY, [OTHER_KEY])
    assert ring.open("grant-1", old_sealed) == SECRET
    assert ring.seal("grant-2", SECRET).key_id == key_id_of(KEY) == ring.key_id
    assert ring.previous_key_ids == (key_id_of(OTHER_KEY),)


def test_reseal_moves_a_secret_to_the_current_key() -> None:
    old_sealed = Vault(OTHER_KEY).seal("grant-1", SECRET)
    fresh = Vault(KEY, [OTHER_KEY]).reseal("grant-1", old_sealed)
    assert fresh.key_id == key_id_of(KEY) and fresh.blob != old_sealed.blob
    assert Vault(KEY).open("grant-1", fresh) == SECRET


def test_a_secret_under_a_key_the_ring_does_not_hold_fails_closed_naming_the_key_id_only() -> None:
    sealed = Vault(THIRD_KEY).seal("grant-1", SECRET)
    ring = Vault(KEY, [OTHER_KEY])
    with pytest.raises(UnknownKey) as caught:
        ring.open("grant-1", sealed)
    message = str(caught.value)
    assert key_id_of(THIRD_KEY) in message and PREVIOUS_KEYS_ENV in message and "keys rotate" in message
    for key in (KEY, OTHER_KEY, THIRD_KEY):
        assert _b64(key) not in message and key.hex() not in message
    assert caught.value.code == "VAULT_UNKNOWN_KEY"


def test_previous_keys_come_from_the_environment_beside_the_current_one(tmp_path: Path) -> None:
    env = {MASTER_KEY_ENV: _b64(KEY), PREVIOUS_KEYS_ENV: f"{_b64(OTHER_KEY)}, {_b64(THIRD_KEY)}"}
    ring = Vault.from_environment(tmp_path / "master.key", env)
    assert ring.key_id == key_id_of(KEY)
    assert ring.previous_key_ids == (key_id_of(OTHER_KEY), key_id_of(THIRD_KEY))
    assert "previous_key_ids" in repr(ring) and _b64(OTHER_KEY) not in repr(ring)
    assert not (tmp_path / "master.key").exists()


def test_a_bad_previous_key_is_refused_by_position_without_echoing_it(tmp_path: Path) -> None:
    bad = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0"
    env = {MASTER_KEY_ENV: _b64(KEY), PREVIOUS_KEYS_ENV: f"{_b64(OTHER_KEY)},{bad}"}
    with pytest.raises(VaultError) as caught:
        Vault.from_environment(tmp_path / "master.key", env)
    assert f"entry 2 of {PREVIOUS_KEYS_ENV}" in str(caught.value) and bad not in str(caught.value)
    assert _b64(OTHER_KEY) not in str(caught.value) and caught.value.__cause__ is None


def test_previous_keys_without_the_current_key_in_the_environment_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match=f"{PREVIOUS_KEYS_ENV} is set but {MASTER_KEY_ENV} is not"):
        Vault.from_environment(tmp_path / "master.key", {PREVIOUS_KEYS_ENV: _b64(OTHER_KEY)})
    assert not (tmp_path / "master.key").exists()


def _private_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)


def test_previous_keys_come_from_the_folder_beside_the_key_file(tmp_path: Path) -> None:
    _private_file(tmp_path / "master.key", KEY)
    _private_file(tmp_path / PREVIOUS_KEYS_DIR / "2026-01.key", OTHER_KEY)
    _private_file(tmp_path / PREVIOUS_KEYS_DIR / "2026-06.key", _b64(THIRD_KEY).encode() + b"\n")
    _private_file(tmp_path / PREVIOUS_KEYS_DIR / ".being-written", b"x")
    ring = Vault.from_environment(tmp_path / "master.key", {})
    assert ring.key_id == key_id_of(KEY)
    assert ring.previous_key_ids == (key_id_of(OTHER_KEY), key_id_of(THIRD_KEY))


def test_a_previous_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    _private_file(tmp_path / "master.key", KEY)
    _private_file(tmp_path / PREVIOUS_KEYS_DIR / "old.key", OTHER_KEY)
    (tmp_path / PREVIOUS_KEYS_DIR / "old.key").chmod(0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        Vault.from_environment(tmp_path / "master.key", {})


def test_without_create_a_missing_key_file_is_refused_and_not_made(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="there is no master key"):
        Vault.from_environment(tmp_path / "master.key", {}, create=False)
    assert not (tmp_path / "master.key").exists()


def test_a_new_key_file_is_private_base64_usable_as_either_source_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "next.key"
    key_id = new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    encoded = path.read_text().strip()
    assert Vault.from_environment(tmp_path / "unused", {MASTER_KEY_ENV: encoded}).key_id == key_id
    assert Vault.from_environment(path, {}).key_id == key_id
    with pytest.raises(VaultError, match="already exists"):
        new_key_file(path)
    assert path.read_text().strip() == encoded
    assert new_key_file(tmp_path / "other.key") != key_id
