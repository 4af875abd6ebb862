"""The demo's GCP leg: the same life for Cloud Storage, under a downscoped access token.

The agent reads the scope, previews, gets a read of ``reports`` auto-approved (the token is
bounded by a Credential Access Boundary naming the narrowest predefined role), reads
``gs://reports/today.csv`` with ``google-cloud-storage``, and sees the GCP double refuse a write
and the ``finance`` bucket; then it releases the grant and the broker stops handing it out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cloud_broker.cli.agent_session import agent_session
from cloud_broker.cli.demo_steps import call, expect, masked
from cloud_broker.cli.gcs import attempt, storage_client
from cloud_broker.cli.sandbox_process import mcp_env

READ_REPORTS = {
    "permissions": ["storage.objects.get", "storage.objects.list"],
    "resources": ["projects/_/buckets/reports", "projects/_/buckets/reports/objects/*"],
    "ttl_seconds": 900,
}


async def run_gcp(info: dict[str, Any]) -> None:
    project = info["gcp_project_id"]
    async with agent_session(mcp_env(info)) as agent:
        await call(agent, "G1. gcp_describe_scope", "gcp_describe_scope", {"project_id": project},
                   lambda r: not r.is_error and r.json["project_id"] == project)
        await call(agent, "G2. gcp_preview_request (read reports)", "gcp_preview_request",
                   {"project_id": project, **READ_REPORTS},
                   lambda r: r.json["would"] == "auto_approve" and r.json["enforced_by"] == "access_boundary")
        grant = (await call(agent, "G3. gcp_request_access", "gcp_request_access",
                            {"project_id": project, **READ_REPORTS, "reason": "fetch the daily reports CSV"},
                            lambda r: r.json["status"] == "active" and "credentials" not in r.json)).json
        reply = await call(agent, "G4. gcp_get_credentials", "gcp_get_credentials", {"grant_id": grant["grant_id"]},
                           lambda r: not r.is_error, show=masked)
        await _use_token(reply.json["credentials"]["access_token"], info)
        await call(agent, "G8. gcp_release_access", "gcp_release_access", {"grant_id": grant["grant_id"]},
                   lambda r: r.json["status"] == "revoked" and r.json["revoked_in_cloud"] is False)
        await call(agent, "G9. gcp_get_credentials after release", "gcp_get_credentials",
                   {"grant_id": grant["grant_id"]}, lambda r: r.is_error and "409" in r.text)


async def _use_token(token: str, info: dict[str, Any]) -> None:
    client = storage_client(token, info["gcp_project_id"], info["gcs_endpoint_url"])
    read = await asyncio.to_thread(attempt, lambda: client.bucket("reports").blob("today.csv").download_as_bytes())
    expect("G5. storage: download gs://reports/today.csv", read.text, read.ok and read.text.startswith("date,"))
    write = await asyncio.to_thread(
        attempt, lambda: client.bucket("reports").blob("injected.csv").upload_from_string(b"x\n"))
    expect("G6. storage: upload gs://reports/injected.csv  (not granted)", write.text, write.forbidden)
    other = await asyncio.to_thread(attempt, lambda: client.bucket("finance").blob("q3.csv").download_as_bytes())
    expect("G7. storage: download gs://finance/q3.csv  (another bucket)", other.text, other.forbidden)
