"""A sandbox's broker talks to the emulator with the sandbox's own credentials, whatever AWS
variables the operator's shell holds: real keys must not be sent to the emulator, and an
endpoint variable must not send a `--config` sandbox's mints (naming real roles) to real STS."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_broker.cli.wiring import aws_provider
from cloud_broker.settings import Settings

SHELL_KEY = "AKIA" + "SHELLREALKEY0001"


def test_the_sandbox_files_win_over_the_shells_aws_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "config").write_text("[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:5999\n")
    (aws / "credentials").write_text("[default]\naws_access_key_id = sandbox-key\naws_secret_access_key = sandbox-secret\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SHELL_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "shell-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://sts.us-east-1.amazonaws.com")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    provider = aws_provider(Settings.build(state_dir=tmp_path, env={}))
    sts = provider._sts  # type: ignore[attr-defined]
    assert sts.meta.endpoint_url == "http://127.0.0.1:5999"
    assert sts._request_signer._credentials.access_key == "sandbox-key"


def test_a_state_dir_without_an_endpoint_keeps_boto3s_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "config").write_text("[default]\nregion = eu-west-1\n")
    (aws / "credentials").write_text("[default]\naws_access_key_id = file-key\naws_secret_access_key = file-secret\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS", raising=False)
    provider = aws_provider(Settings.build(state_dir=tmp_path, env={}))
    assert "amazonaws.com" in provider._sts.meta.endpoint_url  # type: ignore[attr-defined]
