"""A broker killed between the cloud's answer and the commit leaves credentials nobody holds
but AWS honours. A real ``cloud-broker serve`` process is SIGKILLed at that exact point (the
``mint.after_cloud`` failpoint); the emulator is the suite's own (moto runs one per process),
in this test's process, so it outlives the broker as AWS would. After a restart the orphan is found from its intent row, failed, and its
session refused by the emulator, while a new grant works."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloud_broker.cli.sandbox import write_sandbox_state
from cloud_broker.cli.sandbox_process import child_env
from cloud_broker.failpoints import AFTER_CLOUD_MINT, ENV
from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.sandbox.gcp import start_gcp_double
from tests.api.conftest import forget_revocations, reads_reports

pytestmark = pytest.mark.e2e

READ = {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"],
        "ttl_seconds": 900}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def clouds(emulator: Any, tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    with start_gcp_double() as gcp:
        try:
            yield emulator, write_sandbox_state(tmp_path / "state", emulator, gcp)
        finally:
            source = boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                                   aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")
            forget_revocations(AwsStsProvider(source, endpoint_url=emulator.endpoint_url), emulator)


class Serve:
    """``cloud-broker serve --state-dir`` on a free port, as an operator runs it."""

    def __init__(self, state: Path, log: Path, *args: str, **env: str) -> None:
        """``args`` go to ``serve`` (e.g. ``--db URL``), ``env`` to its environment."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cloud_broker", "serve", "--state-dir", str(state), "--port", str(self.port),
                 *args],
                stdout=out, stderr=subprocess.STDOUT, env=child_env(**env))
        deadline = time.monotonic() + 60
        while not self._up():
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

    def _up(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/healthz", timeout=1):
                return True
        except OSError:
            return False

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             token: str | None = None) -> tuple[int, dict[str, Any]]:
        status, answer, _ = self.reply(method, path, body, token)
        return status, answer

    def reply(self, method: str, path: str, body: dict[str, Any] | None = None,
              token: str | None = None) -> tuple[int, dict[str, Any], Message]:
        """Status, JSON body and headers of one call."""
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with _OPENER.open(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read()), reply.headers
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read()), refused.headers

    def token(self, host_key: str) -> str:
        status, body = self.call("POST", "/host/exchange", {"host_key": host_key})
        assert status == 200, body
        return str(body["token"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=20)


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
