"""``cloud-broker keys`` and the shared-key rule, as an operator runs them: real processes, on
SQLite and on a real PostgreSQL. No key value may appear in any output."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.cli.wiring import UnsharedMasterKey, wire
from cloud_broker.settings import Settings
from cloud_broker.store.sql import SqlStore
from cloud_broker.vault import MASTER_KEY_ENV, PREVIOUS_KEYS_DIR, PREVIOUS_KEYS_ENV, Vault, key_id_of

pytestmark = pytest.mark.both_stores

OLD, NEW, FOREIGN = os.urandom(32), os.urandom(32), os.urandom(32)
GRANTS = ("grant-a", "grant-b", "grant-c")


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _run(*args: str, keys: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (MASTER_KEY_ENV, PREVIOUS_KEYS_ENV)}
    return subprocess.run([sys.executable, "-m", "cloud_broker", *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**env, **(keys or {})})


def _shows_no_key(done: subprocess.CompletedProcess[str], keys: Iterable[bytes] = (OLD, NEW, FOREIGN)) -> bool:
    shown = done.stdout + done.stderr
    return not any(_b64(k) in shown or k.hex() in shown for k in keys)


def _seal(url: str, vault: Vault, grant_ids: Iterable[str]) -> None:
    store = SqlStore.open(url)
    try:
        with store.unit_of_work() as uow:
            for grant_id in grant_ids:
                uow.put_secret(grant_id, vault.seal(grant_id, b'{"session_token": "t"}'))
    finally:
        store.engine.dispose()


def _opened_by(url: str, vault: Vault) -> list[bytes]:
    store = SqlStore.open(url)
    try:
        with store.unit_of_work() as uow:
            return [vault.open(g, s) for g in GRANTS if (s := uow.find_secret(g)) is not None]
    finally:
        store.engine.dispose()


def test_rotate_reseals_under_the_new_key_and_status_then_counts_by_key_id(store_url: str, tmp_path: Path) -> None:
    _seal(store_url, Vault(OLD), GRANTS)
    _seal(store_url, Vault(FOREIGN), ["grant-elsewhere"])
    rolling = {MASTER_KEY_ENV: _b64(NEW), PREVIOUS_KEYS_ENV: _b64(OLD)}
    state = ("--db", store_url, "--state-dir", str(tmp_path / "state"))

    rotated = _run("keys", "rotate", "--page-size", "2", *state, keys=rolling)

    assert rotated.returncode == 1, "a row is left under a key this process does not hold"
    assert f"current key id {key_id_of(NEW)}; previous key ids: {key_id_of(OLD)}" in rotated.stdout
    assert f"re-sealed 3 row(s): 3 from {key_id_of(OLD)}" in rotated.stdout
    assert f"rows under old key id {key_id_of(OLD)} (previous): 0" in rotated.stdout
    assert f"rows under old key id {key_id_of(FOREIGN)} (not held by this process): 1" in rotated.stdout
    assert f"left 1 row(s) under key id {key_id_of(FOREIGN)}" in rotated.stderr
    assert _opened_by(store_url, Vault(NEW)) == [b'{"session_token": "t"}'] * 3, "the old key is no longer needed"

    status = _run("keys", "status", *state, keys={MASTER_KEY_ENV: _b64(NEW)})
    assert status.returncode == 0, status.stderr
    assert f"rows under the current key id {key_id_of(NEW)}: 3" in status.stdout
    assert "previous key ids: none" in status.stdout and key_id_of(OLD) not in status.stdout
    assert all(_shows_no_key(done) for done in (rotated, status))
    assert not (tmp_path / "state").exists(), "keys from the environment: nothing written to the state dir"
    summary = _audit_summary(store_url)
    assert summary.actor.startswith("operator:") and summary.detail["rows_resealed"] == 3
    assert summary.detail["rows_left_by_key_id"] == {key_id_of(OLD): 0, key_id_of(FOREIGN): 1}


def _audit_summary(url: str) -> Any:
    store = SqlStore.open(url)
    try:
        with store.unit_of_work() as uow:
            [summary] = [row for row in uow.list_audit() if row.event == "keys.rotated"]
    finally:
        store.engine.dispose()
    return summary


def _private(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, content)
    os.close(fd)


def test_the_key_file_roll_on_sqlite_new_key_in_place_old_key_in_the_previous_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    url = f"sqlite:///{state / 'broker.db'}"
    _private(state / "master.key", OLD)
    _seal(url, Vault.from_environment(state / "master.key", {}), GRANTS)

    made = _run("keys", "new", "--out", str(tmp_path / "next.key"))
    assert made.returncode == 0, made.stderr
    again = _run("keys", "new", "--out", str(tmp_path / "next.key"))
    assert again.returncode == 1 and "already exists" in again.stderr, "a key file is never replaced"
    assert stat.S_IMODE((tmp_path / "next.key").stat().st_mode) == 0o600
    new_id = made.stdout.split("key id ")[1].split(";")[0]
    (state / PREVIOUS_KEYS_DIR).mkdir(mode=0o700)
    (state / "master.key").rename(state / PREVIOUS_KEYS_DIR / "before.key")
    (tmp_path / "next.key").rename(state / "master.key")

    rotated = _run("keys", "rotate", "--state-dir", str(state))

    assert rotated.returncode == 0, rotated.stderr
    assert f"re-sealed 3 row(s): 3 from {key_id_of(OLD)}" in rotated.stdout
    assert f"current key id {new_id}" in rotated.stdout and "no row uses an old key" in rotated.stdout
    (state / PREVIOUS_KEYS_DIR / "before.key").unlink()
    assert len(_opened_by(url, Vault.from_environment(state / "master.key", {}))) == 3
    new_key = base64.b64decode((state / "master.key").read_text())
    assert _shows_no_key(made, [new_key]) and _shows_no_key(rotated, [new_key, OLD])


def _settings(url: str, state: Path) -> Settings:
    return Settings(config_path=state / "broker.yaml", state_dir=state, db_url=url)


def test_serve_refuses_postgresql_without_the_shared_key_and_writes_nothing(
        postgres_server: Any, tmp_path: Path) -> None:
    url = postgres_server.new_database()
    try:
        done = _run("serve", "--db", url, "--state-dir", str(tmp_path / "state"), "--port", "0")
        status = _run("keys", "status", "--db", url, "--state-dir", str(tmp_path / "state"))
    finally:
        postgres_server.drop_database(url)
    assert done.returncode == 1 and status.returncode == 1
    for refused in (done, status):
        assert "MASTER_KEY_NOT_SHARED" in refused.stderr
        assert f"{MASTER_KEY_ENV} is not set" in refused.stderr and "could not open the credentials" in refused.stderr
        assert "refuse the tokens" in refused.stderr and "keys new --out" in refused.stderr
    assert not (tmp_path / "state").exists(), "no state dir, no key file"


def test_wiring_refuses_postgresql_even_when_a_key_file_is_already_there(postgres_server: Any, tmp_path: Path) -> None:
    """A key file is per host however it got there; previous keys alone do not make a shared key."""
    state = tmp_path / "state"
    _private(state / "master.key", OLD)
    url = postgres_server.new_database()
    try:
        with pytest.raises(UnsharedMasterKey):
            wire(_settings(url, state), providers={}, env={PREVIOUS_KEYS_ENV: _b64(NEW)})
    finally:
        postgres_server.drop_database(url)
    assert sorted(p.name for p in state.iterdir()) == ["master.key"] and (state / "master.key").read_bytes() == OLD
