"""``cloud-broker demo``: the worked example, end to end, on the sandbox.

An agent (a real MCP client session against ``cloud-broker mcp``) inspects its scope,
previews, obtains credentials, uses them with the AWS CLI, sees AWS refuse anything beyond
the grant, releases them, and sees the credential read refused afterwards. Then it asks for a
write the policy routes to a person: an approver approves it (narrowed, from the command
line), and the outcome reaches the agent as an MCP notification, without polling. Each step
checks what it shows; the demo exits non-zero if any expectation fails. A GCP leg follows
(``demo_gcp``): the same life for a Cloud Storage read under a downscoped token.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import warnings
from typing import Any

import typer

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.aws_cli import run_aws
from cloud_broker.cli.demo_gcp import run_gcp
from cloud_broker.cli.demo_steps import DemoFailed, call, expect, masked, step
from cloud_broker.cli.sandbox_process import SandboxProcess, child_env, mcp_env

UPLOAD = {
    "actions": ["s3:PutObject", "s3:DeleteObject"],
    "resources": ["arn:aws:s3:::reports/uploads/*"],
    "regions": ["us-east-1"],
    "ttl_seconds": 900,
}
PUSH_WAIT_SECONDS = 30.0
READ_REPORTS = {
    "actions": ["s3:GetObject", "s3:ListBucket"],
    "resources": ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
    "regions": ["us-east-1"],
    "ttl_seconds": 900,
}


def demo() -> None:
    """Run the worked example against an in-process AWS emulator and GCP double; no cloud account needed.

    \b
    Example:
      cloud-broker demo
    """
    with SandboxProcess() as sandbox:
        typer.echo(f"sandbox broker at {sandbox.info['api_url']}, AWS emulator at {sandbox.info['aws_endpoint_url']}, "
                   f"GCP double at {sandbox.info['gcs_endpoint_url']}\n")
        try:
            asyncio.run(_run(sandbox.info))
            asyncio.run(_approval(sandbox))
            asyncio.run(run_gcp(sandbox.info))
        except DemoFailed as exc:
            typer.secho(f"\nDEMO FAILED: {exc}", fg="red", err=True)
            raise typer.Exit(code=1) from None
    typer.secho("\nDemo complete: scoped, short-lived, released; approved by a person, pushed to the agent.",
                fg="green")


async def _run(info: dict[str, Any]) -> None:
    account = info["account_id"]
    async with agent_session(mcp_env(info)) as agent:
        step("0. tools offered by `cloud-broker mcp`", ", ".join(await agent.tool_names()))
        await call(agent, "1. aws_describe_scope", "aws_describe_scope", {"account_id": account},
                    lambda r: not r.is_error and r.json["account_id"] == account)
        await call(agent, "2. aws_preview_request (read reports)", "aws_preview_request",
                    {"account_id": account, **READ_REPORTS}, lambda r: r.json["would"] == "auto_approve")
        await call(agent, "2b. aws_preview_request (write reports)", "aws_preview_request",
                    {"account_id": account, **READ_REPORTS, "actions": ["s3:PutObject"]},
                    lambda r: r.json["would"] == "route_to_approver")
        grant = (await call(agent, "3. aws_request_access", "aws_request_access",
                             {"account_id": account, **READ_REPORTS, "reason": "fetch the daily reports CSV"},
                             lambda r: r.json["status"] == "active" and "credentials" not in r.json)).json
        reply = await call(agent, "4. aws_get_credentials", "aws_get_credentials", {"grant_id": grant["grant_id"]},
                            lambda r: not r.is_error, show=masked)
        await _use_credentials(reply.json["credentials"], info)
        await call(agent, "8. aws_release_access", "aws_release_access", {"grant_id": grant["grant_id"]},
                    lambda r: r.json["status"] == "revoked" and r.json["revoked_in_cloud"] is True)
        where = {"endpoint_url": info["aws_endpoint_url"], "region": info["region"]}
        again = await asyncio.to_thread(run_aws, ["s3", "cp", "s3://reports/today.csv", "-"],
                                        reply.json["credentials"], **where)
        expect("8b. aws s3 cp s3://reports/today.csv -  (the released credentials, at once)", again.stderr.strip(),
               again.access_denied)
        await call(agent, "9. aws_get_credentials after release", "aws_get_credentials",
                    {"grant_id": grant["grant_id"]}, lambda r: r.is_error and "409" in r.text)


async def _approval(sandbox: SandboxProcess) -> None:
    """A request beyond the auto-approve rules waits for a person; the outcome is pushed."""
    info, pushed = sandbox.info, asyncio.Event()
    notes: list[str] = []

    async def on_message(message: Any) -> None:
        # The log message names the new status; the resource update precedes it.
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/message" and isinstance(root.params.data, dict):
            notes.append(root.params.data.get("message", ""))
            if root.params.data.get("status") == "active":
                pushed.set()

    async with agent_session(mcp_env(info), message_handler=on_message) as agent:
        pending = (await call(agent, "10. aws_request_access (upload: needs a person)", "aws_request_access",
                               {"account_id": info["account_id"], **UPLOAD, "reason": "publish the weekly summary"},
                               lambda r: r.json["status"] == "pending")).json
        grant_id = pending["grant_id"]
        with warnings.catch_warnings():
            # Over stdio the session speaks 2025-11-25, where resources/subscribe is the way.
            warnings.simplefilter("ignore")
            await agent.session.subscribe_resource(f"grant://{grant_id}")
        approve = ["approve", grant_id, "--approver", info["approver"], "--action", "s3:PutObject",
                   "--comment", "uploads yes, deletes no", "--state-dir", info["state_dir"]]
        done = await asyncio.to_thread(_cli, approve)
        expect(f"11. an approver decides, keeping only s3:PutObject (CLI here; or the console at {info['console_url']})",
                done.stdout or done.stderr, done.returncode == 0)
        try:
            await asyncio.wait_for(pushed.wait(), PUSH_WAIT_SECONDS)
        except TimeoutError:
            raise DemoFailed("the approval was not pushed to the agent") from None
        expect("12. pushed to the agent, no polling (MCP resources/updated + log messages)", "\n".join(notes), True)
        reply = await call(agent, "13. aws_get_credentials", "aws_get_credentials", {"grant_id": grant_id},
                            lambda r: not r.is_error, show=masked)
    where = {"endpoint_url": info["aws_endpoint_url"], "region": info["region"]}
    creds = reply.json["credentials"]
    put = await asyncio.to_thread(run_aws, ["s3", "cp", "-", "s3://reports/uploads/summary.csv"], creds,
                                  stdin="week,total\n", **where)
    expect("14. aws s3 cp - s3://reports/uploads/summary.csv", put.stdout or "upload: ok", put.returncode == 0)
    delete = await asyncio.to_thread(run_aws, ["s3", "rm", "s3://reports/uploads/summary.csv"], creds, **where)
    expect("15. aws s3 rm s3://reports/uploads/summary.csv  (narrowed away by the approver)",
            delete.stderr.strip(), delete.access_denied)


def _cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cloud_broker", *args]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120, check=False)


async def _use_credentials(creds: dict[str, str], info: dict[str, Any]) -> None:
    where = {"endpoint_url": info["aws_endpoint_url"], "region": info["region"]}
    read = await asyncio.to_thread(run_aws, ["s3", "cp", "s3://reports/today.csv", "-"], creds, **where)
    expect("5. aws s3 cp s3://reports/today.csv -", read.stdout or read.stderr, read.returncode == 0)
    write = await asyncio.to_thread(run_aws, ["s3", "cp", "-", "s3://reports/injected.csv"], creds, stdin="x\n", **where)
    expect("6. aws s3 cp - s3://reports/injected.csv  (not granted)", write.stderr.strip(), write.access_denied)
    other = await asyncio.to_thread(
        run_aws, ["s3api", "get-object", "--bucket", "finance", "--key", "q3.csv", "/dev/null"], creds, **where
    )
    expect("7. aws s3api get-object --bucket finance --key q3.csv  (another bucket)", other.stderr.strip(),
            other.access_denied)
