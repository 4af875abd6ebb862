"""The README's ``.mcp.json`` snippets, run as an MCP client runs them: the command it names,
the arguments it gives, its ``env`` on top of the client's small default environment, and a
working directory that is not the one holding the config."""

from __future__ import annotations

import json
import re
import socket
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

import cloud_broker
from cloud_broker.config import hash_api_key, new_api_key

ROOT = Path(__file__).resolve().parents[2]
CLONE = "/home/you/cloud-broker"  # where the README's snippets assume the clone is
AGENT = str(uuid.uuid4())
CONFIG = f"""\
approvers: [{{name: alice}}]
teams: [{{name: analytics}}]
hosts: [{{name: laptop, team: analytics, api_keys: ["{hash_api_key(new_api_key())}"]}}]
agents: [{{id: "{AGENT}", name: reporter, team: analytics, host: laptop}}]
aws_accounts:
  - {{account_id: "210987654321", display_name: Analytics, default_region: eu-west-1, allowed_regions: [eu-west-1],
     role_arn: "arn:aws:iam::210987654321:role/cloud-broker-agent"}}
ceilings:
  - {{team: analytics, account_id: "210987654321", max_ttl_seconds: 900, allowed_regions: [eu-west-1],
     approvers: [alice]}}
"""


def _snippets() -> list[dict[str, Any]]:
    """The snippets that start a process (the `/mcp` one names a URL: tests/mcp and tests/e2e run it)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    servers = [json.loads(block)["mcpServers"]["cloud-broker"] for block in blocks if "mcpServers" in block]
    return [server for server in servers if "command" in server]


SNIPPETS = _snippets()


def test_the_readme_shows_a_remote_and_an_embedded_snippet_with_absolute_paths() -> None:
    assert [s["args"][:2] for s in SNIPPETS] == [["mcp"], ["mcp", "--config"]]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["cloud-broker"] == "cloud_broker.cli.main:app"  # what .venv/bin/cloud-broker runs
    for snippet in SNIPPETS:
        assert snippet["command"] == f"{CLONE}/.venv/bin/cloud-broker"
        paths = [snippet["args"][i + 1] for i, arg in enumerate(snippet["args"]) if arg in ("--config", "--state-dir")]
        assert all(Path(p).is_absolute() for p in paths)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_here(value: str, clone: Path, broker_port: int) -> str:
    """A snippet's value with its placeholders filled for this machine."""
    value = value.replace(CLONE, str(clone)).replace("<agent uuid>", AGENT).replace("<run uuid>", str(uuid.uuid4()))
    value = value.replace("tlk_…", "tlk_" + "readme-placeholder")
    return value.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{broker_port}")


@pytest.mark.anyio
@pytest.mark.parametrize("index", range(len(SNIPPETS)), ids=["remote", "embedded"])
async def test_each_snippet_starts_a_server_that_lists_and_answers(index: int, tmp_path: Path) -> None:
    clone, elsewhere = tmp_path / "clone", tmp_path / "elsewhere"
    clone.mkdir()
    elsewhere.mkdir()
    (clone / "broker.yaml").write_text(CONFIG)
    snippet, port = SNIPPETS[index], _closed_port()
    args = [_as_here(arg, clone, port) for arg in snippet["args"]]
    env = {name: _as_here(value, clone, port) for name, value in snippet["env"].items()}
    # The test's stand-ins: this interpreter for the installed script, this tree on its path,
    # and a state dir of its own instead of ~/.cloud-broker.
    env |= {"CLOUD_BROKER_HOME": str(tmp_path / "state"), "PYTHONPATH": str(Path(cloud_broker.__file__).parents[1])}
    # The profile the embedded snippet names, as `aws configure --profile cloud-broker` writes it.
    (tmp_path / "aws-config").write_text("[profile cloud-broker]\nregion = eu-west-1\n")
    env |= {"AWS_CONFIG_FILE": str(tmp_path / "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "cloud_broker", *args], env=env,
                                   cwd=str(elsewhere))
    async with Client(stdio_client(params), mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        accounts = await client.call_tool("aws_list_accounts", {})
    assert {"aws_request_access", "gcp_request_access"} <= tools
    text = accounts.content[0].text  # type: ignore[union-attr]
    if "--config" in args:
        assert not accounts.is_error and "210987654321" in text
    else:
        assert accounts.is_error and f"http://127.0.0.1:{port} (set by AGT_HOST)" in text


def test_a_profile_that_does_not_exist_is_named_instead_of_a_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cloud_broker.cli.main import app

    (tmp_path / "broker.yaml").write_text(CONFIG)
    env = {"AWS_PROFILE": "no-such-profile", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "CLOUD_BROKER_HOME": str(tmp_path / "state")}
    done = CliRunner(env=env).invoke(app, ["mcp", "--config", str(tmp_path / "broker.yaml"), "--agent-id", AGENT])
    assert done.exit_code == 1
    assert isinstance(done.exception, SystemExit)  # a clean exit, not botocore's ProfileNotFound escaping
    assert "AWS_PROFILE names the profile 'no-such-profile', which no AWS config file defines" in done.stderr
