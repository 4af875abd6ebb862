"""Two ``cloud-broker serve`` processes on one PostgreSQL database, as a platform team runs them:
approvals racing through separate processes mint once, and a stream served by one process
delivers what the other wrote (woken by LISTEN/NOTIFY)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud_broker.cli.sandbox import write_sandbox_state
from cloud_broker.cli.sandbox_process import child_env
from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.sandbox.gcp import start_gcp_double
from tests.api.conftest import forget_revocations
from tests.e2e.serve_process import Serve

pytestmark = pytest.mark.e2e

WRITE = {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"],
         "ttl_seconds": 900}


@pytest.fixture(scope="module")
def brokers(emulator: Any, postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two brokers started together on one new, empty database, sharing the master key as
    several hosts must (the schema is created once, under the migration lock)."""
    url = postgres_server.new_database(migrated=False)
    env = {"CLOUD_BROKER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    root = tmp_path_factory.mktemp("several")
    with start_gcp_double() as gcp:
        info = write_sandbox_state(root / "state", emulator, gcp)
        state = Path(info["state_dir"])
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(Serve, state, root / f"{name}.log", db=url, **env) for name in "ab"]
            first, second = (future.result() for future in started)
        try:
            yield {"info": info, "url": url, "env": env, "brokers": (first, second), "state": state}
        finally:
            for broker in (first, second):
                broker.stop()
            postgres_server.drop_database(url)
            forget_revocations(AwsStsProvider(_source(emulator), endpoint_url=emulator.endpoint_url), emulator)


def _source(emulator: Any) -> Any:
    import boto3

    return boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                         aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")


def _sessions(emulator: Any, grant_id: str) -> int:
    from moto.sts.models import sts_backends

    roles = sts_backends[emulator.account_id]["global"].assumed_roles
    return sum(1 for r in roles if r.session_name == f"cb-{grant_id}")


def test_approvals_racing_through_two_processes_mint_once(brokers: dict[str, Any], emulator: Any) -> None:
    info = brokers["info"]
    first, second = brokers["brokers"]
    token = first.token(info["host_api_key"])
    status, filed = first.call("POST", "/aws/grants", {**WRITE, "account_id": info["account_id"],
                                                       "agent_id": info["agent_id"], "run_id": info["run_id"]}, token)
    assert status == 200 and filed["status"] == "pending", filed
    grant_id = filed["grant_id"]
    approve = [sys.executable, "-m", "cloud_broker", "approve", grant_id, "--approver", info["approver"],
               "--state-dir", str(brokers["state"]), "--db", brokers["url"], "--wait", "60"]
    racers = [subprocess.Popen(approve, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=child_env(**brokers["env"])) for _ in range(3)]
    outputs = [racer.communicate(timeout=120)[0] for racer in racers]
    status, seen = second.call("GET", f"/aws/grants/{grant_id}?agent_id={info['agent_id']}", token=second.token(
        info["host_api_key"]))
    assert status == 200 and seen["status"] == "active", (seen, outputs)
    assert _sessions(emulator, grant_id) == 1, outputs
    assert sum("approved; the broker mints it" in out for out in outputs) == 1, outputs


def test_a_stream_of_one_process_delivers_a_grant_filed_through_the_other(brokers: dict[str, Any]) -> None:
    info = brokers["info"]
    first, second = brokers["brokers"]
    frames: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {first.token(info['host_api_key'])}"}
        with httpx.Client(timeout=httpx.Timeout(30.0)) as http, http.stream(
                "GET", f"{first.url}/aws/events", params={"agent_id": info["agent_id"]}, headers=headers) as reply:
            for line in reply.iter_lines():
                if line.startswith("event: ready"):
                    ready.set()
                if line.startswith("data: ") and '"grant_id"' in line:
                    frames.append(json.loads(line.removeprefix("data: ")))
                    if frames[-1]["status"] == "active":
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(30)
    token = second.token(info["host_api_key"])
    status, filed = second.call("POST", "/aws/grants", {
        "actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"],
        "ttl_seconds": 900, "account_id": info["account_id"], "agent_id": info["agent_id"], "run_id": info["run_id"]},
        token)
    assert status == 200 and filed["status"] == "active", filed
    listener.join(30)
    assert [f["grant_id"] for f in frames] and {f["grant_id"] for f in frames} == {filed["grant_id"]}
    assert frames[-1]["status"] == "active"
