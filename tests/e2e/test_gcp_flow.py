"""The GCP worked example across real processes: ``cloud-broker serve --sandbox`` (the GCP double
beside the AWS emulator), the published TypeScript MCP server unchanged and our own
``cloud-broker mcp``, ``google-cloud-storage`` using the token, and a pending request approved
by a person in the console (headless Chromium)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.gcs import GcsResult, attempt, storage_client
from cloud_broker.cli.sandbox_process import SandboxProcess, mcp_env

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
READ = {"permissions": ["storage.objects.get", "storage.objects.list"],
        "resources": ["projects/_/buckets/reports", "projects/_/buckets/reports/objects/*"], "ttl_seconds": 900}
UPLOAD = {"permissions": ["storage.objects.create"], "resources": ["projects/_/buckets/reports/objects/uploads/*"]}


def _storage(sandbox: SandboxProcess, token: str, action: str) -> GcsResult:
    client = storage_client(token, sandbox.info["gcp_project_id"], sandbox.info["gcs_endpoint_url"])
    actions = {
        "read": lambda: client.bucket("reports").blob("today.csv").download_as_bytes(),
        "write": lambda: client.bucket("reports").blob("injected.csv").upload_from_string(b"x\n"),
        "finance": lambda: client.bucket("finance").blob("q3.csv").download_as_bytes(),
        "upload": lambda: client.bucket("reports").blob("uploads/e2e.csv").upload_from_string(b"week,total\n"),
    }
    return attempt(actions[action])


async def _read_flow(env: dict[str, str], project: str, errlog: Any, command: list[str] | None) -> dict[str, Any]:
    async with agent_session(env, errlog=errlog, command=command) as agent:
        names = await agent.tool_names()
        scope = await agent.call("gcp_describe_scope", {"project_id": project})
        preview = await agent.call("gcp_preview_request", {"project_id": project, **READ})
        grant = await agent.call("gcp_request_access", {"project_id": project, **READ, "reason": "daily CSV"})
        grant_id = grant.json["grant_id"]
        creds = await agent.call("gcp_get_credentials", {"grant_id": grant_id})
        polled = await agent.call("gcp_poll_grant", {"grant_id": grant_id})
        projects = await agent.call("gcp_list_accounts", {})
        return {k: v for k, v in locals().items() if k not in {"agent", "env", "errlog", "command"}}


async def _finish(env: dict[str, str], grant_id: str, errlog: Any, command: list[str] | None) -> dict[str, Any]:
    async with agent_session(env, errlog=errlog, command=command) as agent:
        released = await agent.call("gcp_release_access", {"grant_id": grant_id})
        again = await agent.call("gcp_release_access", {"grant_id": grant_id})
        refused = await agent.call("gcp_get_credentials", {"grant_id": grant_id})
        return {"released": released, "again": again, "refused": refused}


def _check_read_flow(sandbox: SandboxProcess, r: dict[str, Any]) -> str:
    project = sandbox.info["gcp_project_id"]
    assert {"gcp_request_access", "gcp_get_credentials", "gcp_release_access"} <= set(r["names"])
    assert not r["scope"].is_error and r["scope"].json["project_id"] == project
    assert r["preview"].json["would"] == "auto_approve" and r["preview"].json["enforced_by"] == "access_boundary"
    assert r["grant"].json["status"] == "active" and "credentials" not in r["grant"].json
    assert r["grant"].json["secret_ref"] == f"secret_ref://gcp/runs/{sandbox.info['run_id']}/{r['grant_id']}"
    assert r["polled"].json["status"] == "active" and r["polled"].json["enforced_by"] == "access_boundary"
    assert [p["project_id"] for p in r["projects"].json["projects"]] == [project]
    token = r["creds"].json["credentials"]["access_token"]
    assert _storage(sandbox, token, "read").text.startswith("date,")
    assert _storage(sandbox, token, "write").forbidden
    assert _storage(sandbox, token, "finance").forbidden
    return token


def _check_finish(r: dict[str, Any]) -> None:
    assert r["released"].json["status"] == "revoked" and r["released"].json["revoked_in_cloud"] is False
    assert r["again"].json["status"] == "revoked"
    assert r["refused"].is_error and r["refused"].text.startswith("Broker error 409: GRANT_RELEASED")


def test_published_client_runs_the_gcp_worked_example_unchanged(sandbox: SandboxProcess, published_server: list[str],
                                                                tmp_path: Path) -> None:
    env, project = mcp_env(sandbox.info), sandbox.info["gcp_project_id"]
    with open(tmp_path / "stderr.log", "w+") as errlog:
        read = asyncio.run(_read_flow(env, project, errlog, published_server))
        token = _check_read_flow(sandbox, read)
        _check_finish(asyncio.run(_finish(env, read["grant_id"], errlog, published_server)))
        pending = asyncio.run(_request_upload(env, project, errlog, published_server))
        assert pending["status"] == "pending" and pending["would"] == "route_to_approver"
        _approve_in_console(sandbox, pending["grant_id"])
        approved = asyncio.run(_collect(env, pending["grant_id"], errlog, published_server))
    assert approved["polled"]["status"] == "active"
    assert _storage(sandbox, approved["token"], "upload").ok
    assert _storage(sandbox, approved["token"], "read").forbidden, "the upload grant reads nothing"
    stderr = (tmp_path / "stderr.log").read_text()
    assert "inventory_lookup_failed" not in stderr, stderr
    for secret in (token, approved["token"], sandbox.info["host_api_key"]):
        assert secret not in stderr and secret not in sandbox.log_path.read_text()


def test_our_mcp_server_offers_the_same_gcp_tools_and_flow(sandbox: SandboxProcess, tmp_path: Path) -> None:
    env, project = mcp_env(sandbox.info), sandbox.info["gcp_project_id"]
    with open(tmp_path / "stderr.log", "w+") as errlog:
        read = asyncio.run(_read_flow(env, project, errlog, None))
        _check_read_flow(sandbox, read)
        _check_finish(asyncio.run(_finish(env, read["grant_id"], errlog, None)))
    assert sorted(n for n in read["names"] if n.startswith("gcp_")) == sorted(
        f"gcp_{n}" for n in ("describe_scope", "preview_request", "check_approval_channel", "request_access",
                             "poll_grant", "release_access", "get_credentials", "list_accounts"))


async def _request_upload(env: dict[str, str], project: str, errlog: Any, command: list[str] | None) -> dict[str, Any]:
    async with agent_session(env, errlog=errlog, command=command) as agent:
        reply = await agent.call("gcp_request_access", {"project_id": project, **UPLOAD, "reason": "weekly upload"})
        return reply.json  # type: ignore[no-any-return]


async def _collect(env: dict[str, str], grant_id: str, errlog: Any, command: list[str] | None) -> dict[str, Any]:
    async with agent_session(env, errlog=errlog, command=command) as agent:
        polled = (await agent.call("gcp_poll_grant", {"grant_id": grant_id})).json
        creds = (await agent.call("gcp_get_credentials", {"grant_id": grant_id})).json
        return {"polled": polled, "token": creds["credentials"]["access_token"]}


def _approve_in_console(sandbox: SandboxProcess, grant_id: str) -> None:
    """Sign in as the sandbox approver, open the request, read it, approve it: with a mouse, in
    Chromium, in a thread of its own (Playwright's sync API runs a loop of its own)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the console approval needs Chromium at {CHROMIUM} (scripts/ensure-chromium.sh installs it)")
    failure: list[BaseException] = []

    def drive() -> None:
        from playwright.sync_api import expect, sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page()
                page.goto(sandbox.info["console_url"] + "login")
                page.fill("input[name=name]", sandbox.info["approver"])
                page.fill("input[name=password]", sandbox.info["approver_password"])
                page.get_by_role("button", name="Sign in").click()
                page.locator(f"a[href='/console/grants/{grant_id}']").click()
                expect(page.locator("main")).to_contain_text("GCP project")
                expect(page.locator("main")).to_contain_text("enforced by a Credential Access Boundary")
                expect(page.locator("input[name=permission][value='storage.objects.create']")).to_be_checked()
                page.get_by_role("button", name="Approve").click()
                expect(page.locator("h1 .badge")).to_have_text("active")
                browser.close()
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            failure.append(exc)

    worker = threading.Thread(target=drive)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the console approval did not finish"
    if failure:
        raise failure[0]
