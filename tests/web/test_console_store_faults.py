"""Console pages read without the write lock, and answer a store that cannot be read with a
503 page (``Retry-After``), never a 500: the error page must not ask the failed store who is
signed in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .conftest import ConsoleUnderTest


def test_the_queue_and_a_grant_page_render_while_another_process_holds_the_write_lock(
        ct: ConsoleUnderTest, tmp_path: Path) -> None:
    grant_id = ct.pending_grant()
    ct.sign_in("alice")
    writer = sqlite3.connect(tmp_path / "broker.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # e.g. `cloud-broker approve` in the middle of its commit
    try:
        queue = ct.client.get("/console/")
        detail = ct.client.get(f"/console/grants/{grant_id}")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert queue.status_code == 200 and grant_id in queue.text
    assert detail.status_code == 200 and grant_id in detail.text


def test_a_store_that_cannot_be_opened_gets_a_503_page(ct: ConsoleUnderTest, tmp_path: Path) -> None:
    ct.sign_in("alice")
    ct.broker.deps.store.engine.dispose()  # type: ignore[attr-defined]
    database = tmp_path / "broker.db"
    database.rename(tmp_path / "elsewhere.db")
    database.mkdir()  # a folder where the file was: SQLite cannot open it
    page = ct.client.get("/console/")
    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
    assert "STORE_UNAVAILABLE" in page.text and "Traceback" not in page.text
