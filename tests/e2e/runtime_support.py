"""Running the resolver commands as an agent's runtime would: real processes, the sandbox's
``AGT_*`` environment, the AWS CLI isolated from this machine's profiles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from cloud_broker.cli.aws_cli import aws_executable
from cloud_broker.cli.sandbox_process import SandboxProcess, child_env, mcp_env

CLOUD_BROKER = str(Path(sys.executable).parent / "cloud-broker")
AWS_READ = {"actions": ["s3:GetObject", "s3:ListBucket"], "resources": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"],
            "regions": ["us-east-1"], "ttl_seconds": 900}
GCP_READ = {"permissions": ["storage.objects.get", "storage.objects.list"],
            "resources": ["projects/_/buckets/reports", "projects/_/buckets/reports/objects/*"], "ttl_seconds": 900}


def runtime_env(sandbox: SandboxProcess, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The agent's runtime: AGT_* as for ``cloud-broker mcp``, no AWS identity of this machine."""
    return child_env(**mcp_env(sandbox.info), AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
                     AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
                     AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION=sandbox.info["region"],
                     PATH=f"{Path(sys.executable).parent}:{child_env().get('PATH', '')}", **extra)


def run(command: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def broker(sandbox: SandboxProcess) -> httpx.Client:
    """The sandbox's API as its host: a token exchanged for the host key."""
    exchanged = httpx.post(sandbox.info["api_url"] + "/host/exchange", json={"host_key": sandbox.info["host_api_key"]},
                           timeout=60)
    return httpx.Client(base_url=sandbox.info["api_url"], timeout=60,
                        headers={"Authorization": f"Bearer {exchanged.json()['token']}"})


def new_grant(sandbox: SandboxProcess, family: str) -> dict[str, Any]:
    info = sandbox.info
    target = {"account_id": info["account_id"], **AWS_READ} if family == "aws" \
        else {"project_id": info["gcp_project_id"], **GCP_READ}
    with broker(sandbox) as client:
        reply = client.post(f"/{family}/grants", json={**target, "agent_id": info["agent_id"], "run_id": info["run_id"]})
    assert reply.status_code == 200 and reply.json()["status"] == "active", reply.text
    return dict(reply.json())


def values_of(sandbox: SandboxProcess, secret_ref: str) -> list[str]:
    """The grant's values, straight from the resolver's route: what must never be seen elsewhere."""
    with broker(sandbox) as client:
        reply = client.post("/secret-refs/resolve", json={"secret_ref": secret_ref, "agent_id": sandbox.info["agent_id"],
                                                          "mechanism": "exec"})
    assert reply.status_code == 200, reply.text
    return [v for v in reply.json()["credentials"].values() if isinstance(v, str)]


def aws(args: list[str], sandbox: SandboxProcess, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([aws_executable(), *args, "--endpoint-url", sandbox.info["aws_endpoint_url"]], env)


def release(sandbox: SandboxProcess, family: str, grant_id: str) -> None:
    with broker(sandbox) as client:
        client.post(f"/{family}/grants/{grant_id}/release", params={"agent_id": sandbox.info["agent_id"]})
