"""The operator commands as a person runs them: real processes, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cloud_broker.config import hash_api_key

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud_broker", *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd)


def test_config_check_accepts_the_shipped_example() -> None:
    done = _run("config", "check", "--skip-env", str(ROOT / "examples" / "broker.yaml"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(": ok")


def test_config_check_reports_every_problem_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "broker.yaml"
    path.write_text("teams:\n  - name: t\nagents:\n  - id: nope\n    name: a\n    team: x\n    host: h\nbogus: 1\n")
    done = _run("config", "check", str(path))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert any(line.startswith(f"{path}:4:9: agents.0.id:") for line in lines)
    assert any(line.startswith(f"{path}:6:11: agents.0.team:") for line in lines)
    assert any(line.startswith(f"{path}:8:1: bogus:") for line in lines)
    assert lines[-1] == f"{len(lines) - 1} problem(s) in {path}"


def test_serve_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "broker.yaml"
    path.write_text("teams: [")
    done = _run("serve", "--config", str(path), "--state-dir", str(tmp_path / "state"), "--port", "0")
    assert done.returncode == 1
    assert "CONFIG_INVALID" in done.stderr and f"{path}:" in done.stderr
    assert not (tmp_path / "state" / "broker.db").exists()


def test_new_host_key_prints_a_key_and_its_matching_hash() -> None:
    done = _run("hosts", "new-key")
    assert done.returncode == 0
    key = done.stdout.split("host): ")[1].split()[0]
    stored = done.stdout.split("api_keys:")[1].split()[0]
    assert key.startswith("tlk_") and stored == hash_api_key(key) and key not in stored


def test_version_prints_the_package_version() -> None:
    from cloud_broker import __version__

    done = _run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"cloud-broker {__version__}"


def test_a_store_url_is_shown_without_its_password() -> None:
    from cloud_broker.cli.serve import shown_url

    assert shown_url("postgresql://broker:s3cret-pw@db.internal/broker") == "postgresql://broker:***@db.internal/broker"
    assert shown_url("sqlite:////var/lib/cloud-broker/broker.db") == "sqlite:////var/lib/cloud-broker/broker.db"
