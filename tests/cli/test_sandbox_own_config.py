"""``serve --sandbox --config FILE``: an operator's own broker.yaml, served against the emulator;
``--db`` refused with the sandbox rather than silently ignored."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import httpx
import pytest
from typer.testing import CliRunner

from cloud_broker.cli.main import app
from cloud_broker.cli.sandbox_process import SandboxProcess
from cloud_broker.config import hash_api_key, new_api_key

ACCOUNT = "210987654321"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/agents/reports-reader"
AGENT = str(uuid.uuid4())

OWN_CONFIG = """\
approvers:
  - name: alice
teams:
  - name: analytics
hosts:
  - name: laptop
    team: analytics
    api_keys: ["{key_hash}"]
agents:
  - id: "{agent}"
    name: reporter
    team: analytics
    host: laptop
notifications:
  webhooks:
    - name: ops
      url: https://hooks.example.com/cloud-broker
      secret_env: OPS_WEBHOOK_SECRET
aws_accounts:
  - account_id: "{account}"
    display_name: Analytics
    role_arn: "{role_arn}"
    default_region: eu-west-1
    allowed_regions: [eu-west-1]
ceilings:
  - team: analytics
    account_id: "{account}"
    max_ttl_seconds: 1800
    allowed_regions: [eu-west-1]
    auto_approve:
      - name: who-am-i
        actions: ["sts:GetCallerIdentity"]
        resources: ["*"]
    approvers: [alice]
"""


def _own_config(tmp_path: Path, key: str) -> Path:
    path = tmp_path / "broker.yaml"
    path.write_text(OWN_CONFIG.format(key_hash=hash_api_key(key), agent=AGENT, account=ACCOUNT, role_arn=ROLE_ARN))
    return path


def test_the_operators_own_config_mints_in_the_emulator_under_its_own_role(tmp_path: Path) -> None:
    key = new_api_key()
    config = _own_config(tmp_path, key)
    with SandboxProcess(extra_args=("--config", str(config))) as sandbox, \
            httpx.Client(base_url=sandbox.info["api_url"], timeout=30) as api:
        token = api.post("/host/exchange", json={"host_key": key}).json()["token"]
        request = {"agent_id": AGENT, "run_id": str(uuid.uuid4()), "account_id": ACCOUNT, "reason": "my ceilings",
                   "actions": ["sts:GetCallerIdentity"], "resources": ["*"], "regions": ["eu-west-1"]}
        auth = {"Authorization": f"Bearer {token}"}
        grant = api.post("/aws/grants", json=request, headers=auth).json()
        fetched = api.post(f"/aws/grants/{grant['grant_id']}/credentials", headers=auth,
                           params={"agent_id": AGENT}).json()
        served = (sandbox.state_dir / "broker.yaml").read_text()
        creds = fetched["credentials"]
        sts = boto3.client("sts", endpoint_url=sandbox.info["aws_endpoint_url"], region_name="eu-west-1",
                           aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
                           aws_session_token=creds["session_token"])
        identity = sts.get_caller_identity()
        log = sandbox.log_path.read_text()
    assert grant["status"] == "active"  # decided by the file's own auto-approve rule
    assert identity["Account"] == ACCOUNT and ":assumed-role/reports-reader/" in identity["Arn"]
    assert sandbox.info["config"] == str(config) and sandbox.info["role_arns"] == [ROLE_ARN]
    assert "notifications:" not in served and "hooks.example.com" not in served  # a sandbox pages nobody
    assert f"config {config} without its notifications" in log
    assert key not in log and creds["secret_access_key"] not in log


def test_an_invalid_own_config_is_reported_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "broker.yaml"
    config.write_text("teams: [\n")
    done = CliRunner().invoke(app, ["serve", "--sandbox", "--config", str(config), "--state-dir", str(tmp_path / "s")])
    assert done.exit_code == 1
    assert "CONFIG_INVALID" in done.stderr and f"{config}:" in done.stderr
    assert not (tmp_path / "s").exists()


def test_the_sandbox_refuses_a_store_url_instead_of_ignoring_it(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    args = ["serve", "--sandbox", "--db", f"sqlite:///{db}", "--state-dir", str(tmp_path / "s")]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2
    assert "--sandbox keeps its own SQLite store in its state dir and does not take --db" in done.stderr
    assert not db.exists() and not (tmp_path / "s").exists()


def test_a_file_with_two_aws_accounts_is_refused_with_both_named(tmp_path: Path) -> None:
    config = _own_config(tmp_path, new_api_key())
    second = ('  - account_id: "123456789012"\n    display_name: Other\n'
              '    role_arn: "arn:aws:iam::123456789012:role/other"\n'
              '    default_region: eu-west-1\n    allowed_regions: [eu-west-1]\n')
    config.write_text(config.read_text().replace("ceilings:\n", second + "ceilings:\n"))
    done = CliRunner().invoke(app, ["serve", "--sandbox", "--config", str(config), "--state-dir", str(tmp_path / "s")])
    assert done.exit_code == 2, done.output
    assert f"names 2 AWS accounts (123456789012, {ACCOUNT}); the sandbox's emulator plays one" in done.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--sandbox-info", "x.json"], "apply only with --sandbox"),
    (["--sandbox-rate", "5"], "apply only with --sandbox"),
    (["--sandbox", "--config", "broker.yaml", "--sandbox-delivery", "runtime_only"], "shape the generated setup"),
])
def test_a_sandbox_option_that_would_do_nothing_is_refused(tmp_path: Path, args: list[str], message: str) -> None:
    done = CliRunner().invoke(app, ["serve", "--state-dir", str(tmp_path / "s"), *args])
    assert done.exit_code == 2 and message in done.stderr
    assert not (tmp_path / "s").exists()
