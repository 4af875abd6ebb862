"""Take docs/console.png: the approver console's grant page for a realistic pending request.

Starts everything in this process: the AWS emulator (moto), a broker on a throw-away SQLite
file, the API with the console on uvicorn at 127.0.0.1, and Debian's Chromium through
Playwright (never a downloaded browser). The request is filed through the real API, a second
approver comments on it, and the first one signs in and is photographed reviewing it.

    PYTHONPATH=src python scripts/console_screenshot.py [--out docs/console.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

from cloud_broker.api.app import create_app
from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.config import hash_api_key, new_api_key, parse_config
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.service.broker import Broker
from cloud_broker.service.deps import Deps
from cloud_broker.vault import Vault
from cloud_broker.web import install_console

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshot-only-password"
KMS_KEY = "key/5f1c2e7a-8b9d-4c3e-a1f2-0d9e8c7b6a51"


def config_for(emulator: Any, key_hash: str, agent_id: str, password_hash: str) -> dict[str, Any]:
    account = emulator.account_id
    return {
        "broker": {"public_url": "http://127.0.0.1"},
        "approvers": [
            {"name": "alice", "display_name": "Alice Nguyen", "password_hash": password_hash},
            {"name": "bob", "display_name": "Bob Okafor", "password_hash": password_hash},
        ],
        "teams": [{"name": "data-platform"}],
        "hosts": [{"name": "ci-runner-1", "team": "data-platform", "api_keys": [key_hash]}],
        "agents": [{"id": agent_id, "name": "reports-bot", "team": "data-platform", "host": "ci-runner-1"}],
        "aws_accounts": [{"account_id": account, "display_name": "Analytics (prod)", "role_arn": emulator.role_arn,
                          "default_region": "us-east-1", "allowed_regions": ["us-east-1"]}],
        "ceilings": [{
            "team": "data-platform", "account_id": account, "max_ttl_seconds": 3600, "allowed_regions": ["us-east-1"],
            "auto_approve": [{"name": "read-reports", "actions": ["s3:GetObject", "s3:ListBucket"],
                              "resources": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]}],
            "action_denylist": ["iam:*", "organizations:*"],
            "approvers": ["alice", "bob"],
            "approval_rules": [{"name": "two-person-deletes", "actions": ["s3:DeleteObject"], "required_approvals": 2}],
        }],
    }


def grant_request(account: str, agent_id: str) -> dict[str, Any]:
    return {
        "agent_id": agent_id, "run_id": str(uuid.uuid4()), "account_id": account,
        "actions": ["s3:PutObject", "s3:DeleteObject", "s3:GetObject", "kms:Decrypt"],
        "resources": ["arn:aws:s3:::reports/q3/*", f"arn:aws:kms:us-east-1:{account}:{KMS_KEY}"],
        "regions": ["us-east-1"], "ttl_seconds": 1800, "task_id": "FIN-2291",
        "reason": "Re-run the Q3 revenue report with the corrected FX rates, replace the published "
                  "files and delete the stale drafts (the bucket is encrypted with the reports key).",
        "source_context": {"channel_type": "slack", "channel_id": "C04FINOPS", "thread_ts": "1730822400.001200"},
        "turn_initiator": {"channel": "slack", "sender_id": "U02MARTA"},
    }


def serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("uvicorn did not start")
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


def build_broker(emulator: Any, db: Path) -> tuple[Any, TokenIssuer, str]:
    import boto3

    from cloud_broker.families.aws.provider import AwsStsProvider
    from cloud_broker.store.sql import SqlStore

    agent_id = str(uuid.uuid4())
    password_hash = PasswordHasher().hash(PASSWORD)
    config = parse_config(config_for(emulator, hash_api_key(new_api_key()), agent_id, password_hash))
    session = boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                            aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")
    vault = Vault(os.urandom(32))
    deps = Deps(config=config, store=SqlStore.open(f"sqlite:///{db}"),
                provider=AwsStsProvider(session, endpoint_url=emulator.endpoint_url),
                vault=vault, catalogue=Catalogue.default())
    broker = Broker(deps)
    return broker, TokenIssuer(vault.derive_key(SIGNING_KEY_PURPOSE)), agent_id


def photograph(url: str, grant_id: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
        page.goto(f"{url}/console/login?next=/grants/{grant_id}")
        page.fill("input[name=name]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/console/grants/{grant_id}")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console.png")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: Chromium is needed at {CHROMIUM} (Debian package 'chromium')", file=sys.stderr)
        return 1
    from cloud_broker.sandbox.emulator import start_emulator

    with start_emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        broker, tokens, agent_id = build_broker(emulator, Path(tmp) / "broker.db")
        app = create_app(broker, tokens)
        install_console(app, broker)
        server, thread, url = serve(app)
        try:
            headers = {"Authorization": f"Bearer {tokens.issue('ci-runner-1')}"}
            reply = httpx.post(f"{url}/aws/grants", json=grant_request(emulator.account_id, agent_id), headers=headers,
                               trust_env=False)
            reply.raise_for_status()
            grant_id = reply.json()["grant_id"]
            broker.approvals.comment(grant_id, "bob", "Checked with #fin-ops: the FX correction is expected today.")
            photograph(url, grant_id, args.out)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
