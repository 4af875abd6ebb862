"""``cloud-broker demo``: the worked example, end to end, on the sandbox.

An agent (a real MCP client session against ``cloud-broker mcp``) inspects its scope,
previews, obtains credentials, uses them with the AWS CLI, sees AWS refuse anything beyond
the grant, releases them, and sees the credential read refused afterwards. Each step
checks what it shows; the demo exits non-zero if any expectation fails.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import typer

from cloud_broker.cli.agent_session import AgentSession, ToolReply, agent_session
from cloud_broker.cli.aws_cli import run_aws
from cloud_broker.cli.sandbox_process import SandboxProcess, mcp_env
from cloud_broker.vault import mask

READ_REPORTS = {
    "actions": ["s3:GetObject", "s3:ListBucket"],
    "resources": ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
    "regions": ["us-east-1"],
    "ttl_seconds": 900,
}


class DemoFailed(Exception):
    pass


def demo() -> None:
    """Run the worked example against an in-process AWS emulator; no AWS account needed."""
    with SandboxProcess() as sandbox:
        typer.echo(f"sandbox broker at {sandbox.info['api_url']}, AWS emulator at {sandbox.info['aws_endpoint_url']}\n")
        try:
            asyncio.run(_run(sandbox.info))
        except DemoFailed as exc:
            typer.secho(f"\nDEMO FAILED: {exc}", fg="red", err=True)
            raise typer.Exit(code=1) from None
    typer.secho("\nDemo complete: scoped, short-lived, released.", fg="green")


async def _run(info: dict[str, Any]) -> None:
    account = info["account_id"]
    async with agent_session(mcp_env(info)) as agent:
        _step("0. tools offered by `cloud-broker mcp`", ", ".join(await agent.tool_names()))
        await _call(agent, "1. aws_describe_scope", "aws_describe_scope", {"account_id": account},
                    lambda r: not r.is_error and r.json["account_id"] == account)
        await _call(agent, "2. aws_preview_request (read reports)", "aws_preview_request",
                    {"account_id": account, **READ_REPORTS}, lambda r: r.json["would"] == "auto_approve")
        await _call(agent, "2b. aws_preview_request (write reports)", "aws_preview_request",
                    {"account_id": account, **READ_REPORTS, "actions": ["s3:PutObject"]},
                    lambda r: r.json["would"] == "route_to_approver")
        grant = (await _call(agent, "3. aws_request_access", "aws_request_access",
                             {"account_id": account, **READ_REPORTS, "reason": "fetch the daily reports CSV"},
                             lambda r: r.json["status"] == "active" and "credentials" not in r.json)).json
        reply = await _call(agent, "4. aws_get_credentials", "aws_get_credentials", {"grant_id": grant["grant_id"]},
                            lambda r: not r.is_error, show=_masked)
        await _use_credentials(reply.json["credentials"], info)
        await _call(agent, "8. aws_release_access", "aws_release_access", {"grant_id": grant["grant_id"]},
                    lambda r: r.json["status"] == "revoked")
        await _call(agent, "9. aws_get_credentials after release", "aws_get_credentials",
                    {"grant_id": grant["grant_id"]}, lambda r: r.is_error and "409" in r.text)


async def _use_credentials(creds: dict[str, str], info: dict[str, Any]) -> None:
    where = {"endpoint_url": info["aws_endpoint_url"], "region": info["region"]}
    read = await asyncio.to_thread(run_aws, ["s3", "cp", "s3://reports/today.csv", "-"], creds, **where)
    _expect("5. aws s3 cp s3://reports/today.csv -", read.stdout or read.stderr, read.returncode == 0)
    write = await asyncio.to_thread(run_aws, ["s3", "cp", "-", "s3://reports/injected.csv"], creds, stdin="x\n", **where)
    _expect("6. aws s3 cp - s3://reports/injected.csv  (not granted)", write.stderr.strip(), write.access_denied)
    other = await asyncio.to_thread(
        run_aws, ["s3api", "get-object", "--bucket", "finance", "--key", "q3.csv", "/dev/null"], creds, **where
    )
    _expect("7. aws s3api get-object --bucket finance --key q3.csv  (another bucket)", other.stderr.strip(),
            other.access_denied)


async def _call(agent: AgentSession, title: str, tool: str, arguments: dict[str, Any],
                check: Callable[[ToolReply], bool], show: Callable[[ToolReply], str] | None = None) -> ToolReply:
    _step(f"{title}  →  {tool}({json.dumps(arguments)})", "")
    reply = await agent.call(tool, arguments)
    try:
        ok = check(reply)
    except (KeyError, ValueError, TypeError):
        ok = False
    _expect("", (show or _plain)(reply), ok)
    return reply


def _plain(reply: ToolReply) -> str:
    return ("isError: " if reply.is_error else "") + reply.text


def _masked(reply: ToolReply) -> str:
    """The demo prints credentials only through the masking helper."""
    body = reply.json
    body["credentials"] = {k: mask(v) for k, v in body["credentials"].items()}
    return json.dumps(body, indent=2, ensure_ascii=False)


def _step(title: str, body: str) -> None:
    typer.secho(title, bold=True)
    if body:
        typer.echo(_indent(body))


def _expect(title: str, body: str, ok: bool) -> None:
    if title:
        typer.secho(title, bold=True)
    typer.echo(_indent(body))
    typer.secho("   ✓ as expected\n" if ok else "   ✗ unexpected\n", fg="green" if ok else "red")
    if not ok:
        raise DemoFailed(title or body[:200])


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.strip().splitlines())
