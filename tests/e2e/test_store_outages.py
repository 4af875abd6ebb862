"""A ``cloud-broker serve`` process on PostgreSQL outlives a restart of the database server.

The server is the suite's real, throwaway PostgreSQL, stopped (``pg_ctl stop -m fast``: every
connection of the broker is cut) and started again on the same port, while the broker process
keeps running. Meanwhile every call that needs the store gets a 503 with ``Retry-After`` and
the error envelope, the process itself keeps answering, and nothing is written or minted;
afterwards the same process serves writes and reads again within a few attempts (counted,
not timed), without a restart, and its log holds no traceback.
"""

from __future__ import annotations

import base64
import os
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.store.engine import create_store_engine
from cloud_broker.store.sql import SqlStore
from tests.e2e.serve_process import Serve
from tests.e2e.test_crash_orphans import READ

pytestmark = pytest.mark.e2e

RECOVERY_ATTEMPTS = 3


def _grants(url: str) -> int:
    store = SqlStore(create_store_engine(url))
    try:
        with store.reading() as uow:
            return len(uow.list_grants(limit=1000))
    finally:
        store.engine.dispose()


def _assert_unavailable(status: int, body: dict[str, Any], headers: Message) -> None:
    assert status == 503, body
    assert int(headers["Retry-After"]) > 0
    assert set(body) == {"error", "error_code", "request_id"} and body["error_code"] == "STORE_UNAVAILABLE"
    # A pooled connection in use a moment ago meets the shutdown itself; a new one, no server.
    assert body["error"].startswith("STORE_UNAVAILABLE: ")
    assert "cannot be reached" in body["error"] or "shutting down or starting up" in body["error"]


def test_a_broker_on_postgresql_answers_503_while_the_server_is_down_and_recovers_without_a_restart(
        clouds: tuple[Any, dict[str, Any]], tmp_path: Path, postgres_server: Any,
        assume_role_calls: list[int]) -> None:
    _, info = clouds
    url = postgres_server.new_database()
    log = tmp_path / "serve.log"
    shared_key = {"CLOUD_BROKER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}  # required on PostgreSQL
    serve = Serve(Path(info["state_dir"]), log, db=url, **shared_key)
    try:
        token = serve.token(info["host_api_key"])
        body = {**READ, "account_id": info["account_id"], "agent_id": info["agent_id"], "run_id": info["run_id"]}
        status, first = serve.call("POST", "/aws/grants", body, token)
        assert status == 200 and first["status"] == "active", first
        grant_path = f"/aws/grants/{first['grant_id']}?agent_id={info['agent_id']}"
        before, minted = _grants(url), len(assume_role_calls)

        postgres_server.stop()
        try:
            for method, path, payload in (("POST", "/aws/grants", body), ("GET", grant_path, None),
                                          ("POST", grant_path.replace("?", "/release?"), None)):
                _assert_unavailable(*serve.reply(method, path, payload, token))
            assert serve.call("GET", "/healthz") == (200, {"ok": True})  # the process itself answers
        finally:
            postgres_server.start()

        for attempts in range(1, RECOVERY_ATTEMPTS + 1):
            status, granted, headers = serve.reply("POST", "/aws/grants", body, token)
            if status == 200:
                break
            _assert_unavailable(status, granted, headers)
        assert status == 200 and granted["status"] == "active" and attempts <= RECOVERY_ATTEMPTS
        assert _grants(url) == before + 1 and len(assume_role_calls) == minted + 1  # nothing from the outage
        status, polled = serve.call("GET", grant_path, token=token)
        assert status == 200 and polled["status"] == "active"
    finally:
        serve.stop()
        postgres_server.drop_database(url)
    assert "Traceback" not in log.read_text()
