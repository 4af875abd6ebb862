"""Secrets broker.yaml names by environment variable: reported by ``config check`` when unset,
and ``serve`` refuses to start without them (real processes, real files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "broker.yaml"
SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ONCALL_WEBHOOK_SECRET", "REPORT_WRITER_CALLBACK_SECRET")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run([sys.executable, "-m", "cloud_broker", *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**base, **env})


def test_config_check_names_every_unset_secret_where_the_file_names_it() -> None:
    done = _run("config", "check", str(EXAMPLE), env={"ONCALL_WEBHOOK_SECRET": "set"})
    assert done.returncode == 1
    problems = done.stderr.splitlines()[:-1]
    assert [p.split(": ", 2)[1] for p in problems] == [
        "notifications.slack.bot_token_env", "notifications.slack.signing_secret_env",
        "agents.0.callback.secret_env",
    ]
    assert all(f"{EXAMPLE}:" in p and "is not set" in p for p in problems)


def test_config_check_passes_with_the_secrets_set_or_when_told_to_skip_them() -> None:
    assert _run("config", "check", str(EXAMPLE), env=dict.fromkeys(SECRETS, "x")).returncode == 0
    skipped = _run("config", "check", "--skip-env", str(EXAMPLE), env={})
    assert skipped.returncode == 0 and skipped.stdout.strip().endswith(": ok")


def test_serve_refuses_to_start_without_a_webhook_secret(tmp_path: Path) -> None:
    present = {name: "x" for name in SECRETS if name != "ONCALL_WEBHOOK_SECRET"}
    done = _run("serve", "--config", str(EXAMPLE), "--state-dir", str(tmp_path), "--port", "0", env=present)
    assert done.returncode == 1
    assert "notifications.webhooks.0.secret_env: environment variable ONCALL_WEBHOOK_SECRET is not set" in done.stderr
    assert not (tmp_path / "broker.db").exists()
