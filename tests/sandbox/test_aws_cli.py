"""The AWS CLI, given minted credentials, meets the same refusals AWS would make.

This is what an agent actually runs. Every refusal below needs the emulator's
session-policy extension: stock moto would serve all of it from the role's s3:*.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud_broker.sandbox.emulator import Emulator

from .support import PAST, allow, minutes_from_now, policy, read_reports_grant

Credentials = dict[str, str]
RunAws = Callable[..., subprocess.CompletedProcess[bytes]]


def _aws_executable() -> str:
    # Prefer the CLI installed beside this interpreter (the project's sandbox extra).
    found = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert found, "the AWS CLI is required: install cloud-broker[sandbox]"
    return found


@pytest.fixture(scope="module")
def run_aws(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> RunAws:
    """Run ``aws`` with only the given credentials: no config, profile or env leaks in."""
    home = tmp_path_factory.mktemp("aws-home")
    empty = home / "empty"
    empty.touch()
    executable = _aws_executable()

    def _run(credentials: Credentials, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }
        command = [executable, *args, "--endpoint-url", emulator.endpoint_url, "--region", emulator.region]
        return subprocess.run(command, env=env, input=stdin, capture_output=True, timeout=60, check=False)

    return _run


@pytest.fixture(scope="module")
def granted(assume: Callable[..., Credentials]) -> Credentials:
    return assume(read_reports_grant(until=minutes_from_now(30)))


def test_cli_reads_the_granted_object(run_aws: RunAws, granted: Credentials) -> None:
    """AWS serves what role and session policy both allow (extension evaluates the latter)."""
    result = run_aws(granted, "s3", "cp", "s3://reports/today.csv", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"date,region,revenue")


def test_cli_upload_to_the_granted_bucket_is_access_denied(run_aws: RunAws, granted: Credentials) -> None:
    """AWS: no PutObject in the session policy -> AccessDenied (extension)."""
    result = run_aws(granted, "s3", "cp", "-", "s3://reports/new.csv", stdin=b"x\n")
    assert result.returncode != 0
    assert b"(AccessDenied)" in result.stderr


def test_cli_read_of_another_bucket_is_refused(run_aws: RunAws, granted: Credentials) -> None:
    """AWS: finance/* is outside the grant -> AccessDenied (a bare 403 on the CLI's HEAD) (extension)."""
    copy = run_aws(granted, "s3", "cp", "s3://finance/q3.csv", "-")
    assert copy.returncode != 0 and b"(403)" in copy.stderr
    get = run_aws(granted, "s3api", "get-object", "--bucket", "finance", "--key", "q3.csv", os.devnull)
    assert get.returncode != 0 and b"(AccessDenied)" in get.stderr


def test_cli_listing_without_list_bucket_is_access_denied(run_aws: RunAws, granted: Credentials) -> None:
    """AWS: ListBucket is not implied by GetObject (extension)."""
    result = run_aws(granted, "s3", "ls", "s3://reports/")
    assert result.returncode != 0
    assert b"(AccessDenied)" in result.stderr


@pytest.mark.parametrize(
    "grant",
    [read_reports_grant(until=PAST), read_reports_grant(region="eu-west-1")],
    ids=["deadline-passed", "other-region"],
)
def test_cli_read_is_refused_when_the_grant_conditions_fail(
    run_aws: RunAws, assume: Callable[..., Credentials], grant: str
) -> None:
    """AWS evaluates aws:CurrentTime and aws:RequestedRegion; moto assumes them met (extension)."""
    result = run_aws(assume(grant), "s3", "cp", "s3://reports/today.csv", "-")
    assert result.returncode != 0
    assert b"(403)" in result.stderr


def test_cli_copy_of_an_unreadable_object_into_a_writable_bucket_is_access_denied(
    run_aws: RunAws, assume: Callable[..., Credentials]
) -> None:
    """AWS: a copy needs s3:GetObject on the source too; Get/Put on reports/* cannot copy finance/q3.csv
    into reports/ (moto checked the destination only; extension)."""
    reports_rw = assume(policy(allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::reports/*")))
    copy = ("s3api", "copy-object", "--copy-source", "finance/q3.csv", "--bucket", "reports")
    refused = run_aws(reports_rw, *copy, "--key", "sandbox-test-cli-copy.csv")
    assert refused.returncode != 0 and b"(AccessDenied)" in refused.stderr
    read_back = run_aws(reports_rw, "s3", "cp", "s3://reports/sandbox-test-cli-copy.csv", "-")
    assert read_back.returncode != 0  # nothing was copied
