"""``cloud-broker serve --sandbox --log-format json`` as a real process: one JSON access line per
request carrying its id, no secret anywhere in the log, ``/readyz`` at this code's schema, and
``/metrics`` counting a grant the process minted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloud_broker.cli.sandbox_process import SandboxProcess

pytestmark = pytest.mark.e2e

READ = {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"]}
REQUEST_ID = "e2e-observability-1"
LAST = "e2e-observability-last"


@pytest.fixture(scope="module")
def json_sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(extra_args=("--log-format", "json")) as running:
        yield running


def _json_lines(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    """The log's JSON lines, once the access line of the last request (``LAST``) is among them:
    a line is written after its answer is sent, so the client can read the answer first."""
    for _ in range(200):
        lines = [json.loads(line) for line in sandbox.log_path.read_text().splitlines() if line.startswith("{")]
        if any(line.get("client_request_id") == LAST for line in lines):
            return lines
        time.sleep(0.05)
    raise AssertionError("the last request's access line never reached the log")


def test_a_grant_leaves_a_json_access_line_with_its_id_no_secret_and_a_metric(json_sandbox: SandboxProcess) -> None:
    info = json_sandbox.info
    with httpx.Client(base_url=info["api_url"], timeout=30) as http:
        assert http.get("/readyz").json() == {"ok": True}
        token = http.post("/host/exchange", json={"host_key": info["host_api_key"]}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        grant = http.post("/aws/grants", headers={**auth, "X-Request-Id": REQUEST_ID},
                          json={"account_id": info["account_id"], "agent_id": info["agent_id"],
                                "run_id": info["run_id"], **READ}).json()
        assert grant["status"] == "active"
        creds = http.post(f"/aws/grants/{grant['grant_id']}/credentials", headers=auth,
                          params={"agent_id": info["agent_id"]}).json()["credentials"]
        metrics = http.get("/metrics").text
        http.get("/healthz", headers={"X-Request-Id": LAST})
    assert 'cloud_broker_grants_total{family="aws",outcome="auto_approve",status="active"} 1.0' in metrics
    assert 'cloud_broker_mint_seconds_count{family="aws",result="ok"} 1.0' in metrics

    lines = _json_lines(json_sandbox)
    access = [line for line in lines if line["logger"] == "cloud_broker.access"]
    ours = [line for line in access if line.get("client_request_id") == REQUEST_ID]
    assert len(ours) == 1
    assert {k: ours[0][k] for k in ("method", "route", "status", "client")} == {
        "method": "POST", "route": "/aws/grants", "status": 200, "client": "127.0.0.1"}
    assert isinstance(ours[0]["duration_ms"], float)
    routes = {line["route"] for line in access}
    assert "/aws/grants/{grant_id}/credentials" in routes and "/metrics" in routes
    assert all(len(line["request_id"]) == 32 and line["request_id"].isalnum() for line in access)

    log = json_sandbox.log_path.read_text()
    for secret in (token, info["host_api_key"], *creds.values()):
        assert secret not in log
    assert grant["grant_id"] not in log and info["agent_id"] not in log
