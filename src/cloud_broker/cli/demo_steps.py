"""How the demo shows each step: what was called, what came back, and whether that was expected."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer

from cloud_broker.cli.agent_session import AgentSession, ToolReply
from cloud_broker.vault import mask


class DemoFailed(Exception):
    pass


async def call(agent: AgentSession, title: str, tool: str, arguments: dict[str, Any],
                check: Callable[[ToolReply], bool], show: Callable[[ToolReply], str] | None = None) -> ToolReply:
    step(f"{title}  →  {tool}({json.dumps(arguments)})", "")
    reply = await agent.call(tool, arguments)
    try:
        ok = check(reply)
    except (KeyError, ValueError, TypeError):
        ok = False
    expect("", (show or plain)(reply), ok)
    return reply


def plain(reply: ToolReply) -> str:
    return ("isError: " if reply.is_error else "") + reply.text


def masked(reply: ToolReply) -> str:
    """The demo prints credentials only through the masking helper."""
    body = reply.json
    body["credentials"] = {k: mask(v) for k, v in body["credentials"].items()}
    return json.dumps(body, indent=2, ensure_ascii=False)


def step(title: str, body: str) -> None:
    typer.secho(title, bold=True)
    if body:
        typer.echo(indent(body))


def expect(title: str, body: str, ok: bool) -> None:
    if title:
        typer.secho(title, bold=True)
    typer.echo(indent(body))
    typer.secho("   ✓ as expected\n" if ok else "   ✗ unexpected\n", fg="green" if ok else "red")
    if not ok:
        raise DemoFailed(title or body[:200])


def indent(text: str) -> str:
    return "\n".join("   " + line for line in text.strip().splitlines())
