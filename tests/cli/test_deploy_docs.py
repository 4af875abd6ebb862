"""docs/deploy: the commands the unit, the image and the backup section run are ones the broker
accepts, and the hardening the document promises is in the files it ships."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import typer.main

from cloud_broker.cli.main import app
from cloud_broker.store.sql import SqlStore
from cloud_broker.vault import MASTER_KEY_ENV

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"


def _unit() -> dict[str, list[str]]:
    """The unit's settings, continuation lines joined; a key may repeat."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "cloud-broker.service").read_text())
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def _accepted(argv: list[str]) -> None:
    """``cloud-broker ARGV`` parses: the command exists and takes these options and values."""
    root = typer.main.get_command(app)
    command = root.get_command(root.make_context("cloud-broker", list(argv[:1])), argv[0])  # type: ignore[attr-defined]
    assert command is not None, argv[0]
    command.make_context(argv[0], list(argv[1:]))  # raises on an unknown option or a bad value


def test_the_unit_runs_serve_hardened_with_one_writable_path_and_the_key_from_an_environment_file() -> None:
    unit = _unit()
    executable, *argv = shlex.split(unit["ExecStart"][0])
    assert executable.endswith("/bin/cloud-broker") and argv[0] == "serve"
    _accepted(argv)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "DynamicUser": "yes",
                       "ReadWritePaths": "/var/lib/cloud-broker", "PrivateTmp": "yes", "ProtectHome": "yes"}.items():
        assert unit[key] == [value], key
    assert argv[argv.index("--state-dir") + 1] == unit["ReadWritePaths"][0]
    assert unit["EnvironmentFile"] == ["/etc/cloud-broker/cloud-broker.env"]
    assert f"{MASTER_KEY_ENV}=" in (DEPLOY / "cloud-broker.env.example").read_text()


def test_the_image_is_slim_runs_as_a_user_and_serves() -> None:
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Containerfile").read_text())
    assert all(line.endswith("-slim") or " AS " in line for line in re.findall(r"^FROM (.+)$", text, re.MULTILINE))
    [user] = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
    assert not user.startswith(("0", "root"))
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", text, flags=re.MULTILINE)
    [cmd] = re.findall(r"^CMD (\[.+\])$", text, flags=re.MULTILINE)
    assert json.loads(entrypoint) == ["cloud-broker"] and json.loads(cmd)[0] == "serve"
    _accepted(json.loads(cmd))


def test_the_documented_online_backup_copies_a_store_a_broker_is_writing(tmp_path: Path) -> None:
    """The Python form of the SQLite backup, run as written while a writer holds the lock."""
    [code] = re.findall(r'python3 -c "(.+?)" \\', (DEPLOY / "README.md").read_text())
    store = SqlStore.open(f"sqlite:///{tmp_path / 'broker.db'}")
    with store.engine.begin() as writing:  # BEGIN IMMEDIATE, as every unit of work
        writing.exec_driver_sql("SELECT 1")
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "broker.db"), str(tmp_path / "copy.db")],
                              capture_output=True, text=True, timeout=60, check=False)
    store.engine.dispose()
    assert done.returncode == 0, done.stderr
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("SELECT count(*) FROM audit_events").fetchone() == (0,)
