"""A broker killed between the cloud's answer and the commit leaves credentials nobody holds
but AWS honours. A real ``cloud-broker serve`` process is SIGKILLed at that exact point (the
``mint.after_cloud`` failpoint); the emulator is the suite's own (moto runs one per process),
in this test's process, so it outlives the broker as AWS would. After a restart the orphan is found from its intent row, failed, and its
session refused by the emulator, while a new grant works."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloud_broker.failpoints import AFTER_CLOUD_MINT, ENV
from tests.api.conftest import reads_reports
from tests.e2e.serve_process import Serve

pytestmark = pytest.mark.e2e

READ = {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"],
        "ttl_seconds": 900}


def _session_of(emulator: Any, grant_id: str) -> dict[str, str]:
    """The orphan's credentials, read from the emulator's own state (the broker never recorded them)."""
    from moto.sts.models import sts_backends

    [role] = [r for r in sts_backends[emulator.account_id]["global"].assumed_roles if r.session_name == f"cb-{grant_id}"]
    return {"aws_access_key_id": role.access_key_id, "aws_secret_access_key": role.secret_access_key,
            "aws_session_token": role.session_token}


def _reads(emulator: Any, credentials: dict[str, str]) -> bool:
    return reads_reports(boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name="us-east-1",
                                      **credentials))


def _grant_row(state: Path) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(state / "broker.db") as db:
        db.row_factory = sqlite3.Row
        [row] = db.execute("SELECT grant_id, status, denial_reason FROM grants").fetchall()
        return dict(row)


def test_a_mint_killed_before_its_commit_is_revoked_in_aws_after_a_restart(
        clouds: tuple[Any, dict[str, Any]], tmp_path: Path) -> None:
    emulator, info = clouds
    state, log = Path(info["state_dir"]), tmp_path / "serve.log"
    body = {**READ, "account_id": info["account_id"], "agent_id": info["agent_id"], "run_id": info["run_id"]}

    doomed = Serve(state, log, **{ENV: AFTER_CLOUD_MINT})
    token = doomed.token(info["host_api_key"])
    with pytest.raises(OSError):  # the process died mid-request: no reply at all
        doomed.call("POST", "/aws/grants", body, token)
    assert doomed.proc.wait(timeout=10) == -signal.SIGKILL
    orphan = _grant_row(state)
    assert orphan["status"] == "minting"  # the intent row is all the store knows
    credentials = _session_of(emulator, orphan["grant_id"])
    assert _reads(emulator, credentials)  # valid in AWS, held by nobody

    restarted = Serve(state, log)
    try:
        deadline = time.monotonic() + 90  # the dead process's lease runs out, then a sweep settles it
        while _grant_row(state)["status"] == "minting" and time.monotonic() < deadline:
            time.sleep(0.5)
        settled = _grant_row(state)
        assert settled["status"] == "failed" and "stopped before recording it" in settled["denial_reason"]
        while _reads(emulator, credentials) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _reads(emulator, credentials)  # AWS refuses the orphan's session

        token = restarted.token(info["host_api_key"])
        status, fresh = restarted.call("POST", "/aws/grants", {**body, "run_id": info["run_id"]}, token)
        assert status == 200 and fresh["status"] == "active", fresh
        assert _reads(emulator, _session_of(emulator, fresh["grant_id"]))
    finally:
        restarted.stop()
    assert "SecretAccessKey" not in log.read_text() and credentials["aws_secret_access_key"] not in log.read_text()
    started = f"cloud-broker serve: listening on http://127.0.0.1:{restarted.port}, store sqlite:///{state}/broker.db"
    assert started in log.read_text() and f"config {state}/broker.yaml" in log.read_text()  # what an operator asks first
