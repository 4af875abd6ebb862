"""``cloud-broker enroll`` as an operator runs it: files written, or nothing written and a reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cloud_broker.families.aws.config import AwsAccount

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "broker.yaml")
BROKER = "arn:aws:iam::111122223333:role/cloud-broker"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud_broker", "enroll", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_enroll_aws_writes_the_template_the_module_and_a_valid_fragment(tmp_path: Path) -> None:
    done = _run("aws", "--account-id", "123456789012", "--broker-principal", BROKER, "--config", EXAMPLE,
                "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cloudformation" / "cloud-broker-role.json").is_file()
    assert (tmp_path / "terraform" / "main.tf").is_file()
    (entry,) = yaml.safe_load((tmp_path / "broker-aws-account.yaml").read_text())["aws_accounts"]
    account = AwsAccount.model_validate(entry)
    assert account.role_arn == "arn:aws:iam::123456789012:role/cloud-broker-agent"


@pytest.mark.parametrize("args", [
    ("aws", "--account-id", "1234", "--broker-principal", BROKER, "--allow", "s3:GetObject", "--region", "eu-west-1"),
    ("aws", "--account-id", "123456789012", "--broker-principal", "arn:aws:iam::1:role/x", "--allow",
     "s3:GetObject", "--region", "eu-west-1"),
    ("aws", "--account-id", "123456789012", "--broker-principal", "arn:aws:iam::111122223333:root", "--allow",
     "s3:GetObject", "--region", "eu-west-1"),
    ("aws", "--account-id", "210987654321", "--broker-principal", BROKER, "--config", EXAMPLE),
    ("aws", "--account-id", "123456789012", "--broker-principal", BROKER, "--allow", "*", "--region", "eu-west-1"),
    ("gcp", "--project", "unknown-project", "--broker-principal", "b@p-1234.iam.gserviceaccount.com",
     "--config", EXAMPLE),
])
def test_bad_input_exits_2_with_a_reason_and_writes_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    out = tmp_path / "out"
    done = _run(*args, "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.startswith("error: INVALID_INPUT: ")
    assert not out.exists()


def test_enroll_gcp_writes_the_module_and_the_project_entry(tmp_path: Path) -> None:
    done = _run("gcp", "--project", "reports-prod-42", "--broker-principal", "b@p-1234.iam.gserviceaccount.com",
                "--config", EXAMPLE, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "google_service_account_iam_member" in (tmp_path / "terraform" / "main.tf").read_text()
    assert yaml.safe_load((tmp_path / "broker-gcp-project.yaml").read_text())["gcp_projects"][0]["project_id"] \
        == "reports-prod-42"
