"""A store that stops taking writes, then takes them again, heals without a restart.

The faults are real, made by the kernel, not by a wrapper around the store. The suite runs as
root, which a file mode does not stop, so:

- *read-only files*: the database and its WAL get the immutable attribute (``chattr +i``),
  which refuses every write, root's included, to open descriptors and to new opens alike (a
  connection opened meanwhile is opened read-only by SQLite, as on a read-only filesystem).
  The shared-memory index stays writable: SQLite maps it into memory, where a refused write
  is a SIGBUS that would kill the test process.
- *disk full*: the store lives on a small tmpfs mounted for the test, filled to the last block.
- *cannot be opened*: a folder where the database file was, for the event stream.

Where the kernel or the filesystem does not allow either, the test is skipped with the reason.
While the fault lasts, writes answer 503 with ``Retry-After`` and the error envelope, reads
keep working, nothing is written and nothing is minted; once it ends, writes succeed again
within a few attempts, counted, not timed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cloud_broker.api import routes_events
from cloud_broker.api.errors import ErrorBody
from tests.api.test_events import LiveBroker, open_stream
from tests.filesystem_faults import fill, immutable, small_tmpfs, truncate_wal

from .conftest import BrokerUnderTest, broker_under_test

Response = Any
"""The test client's response (httpx's, or httpx2's under a newer Starlette)."""
RECOVERY_ATTEMPTS = 3
"""At most this many tries after the fault: a connection the fault left unfit is replaced at its
next checkout, or after its first refusal together with every older pooled connection."""


def assert_unavailable(reply: Response) -> None:
    assert reply.status_code == 503, reply.text
    assert int(reply.headers["Retry-After"]) > 0
    body = ErrorBody.model_validate(reply.json())  # the envelope, and nothing else beside it
    assert body.error_code == "STORE_UNAVAILABLE" and body.error.startswith("STORE_UNAVAILABLE: ")
    assert "Traceback" not in reply.text and "INSERT" not in reply.text and "UPDATE" not in reply.text


def request(bt: BrokerUnderTest) -> Response:
    return bt.client.post("/aws/grants", json=bt.grant_body(), headers=bt.headers())


def poll(bt: BrokerUnderTest, grant_id: str) -> Response:
    return bt.client.get(f"/aws/grants/{grant_id}", params={"agent_id": bt.agent_id}, headers=bt.headers())


def attempts_until_granted(bt: BrokerUnderTest) -> tuple[int, dict[str, Any]]:
    for attempt in range(1, RECOVERY_ATTEMPTS + 1):
        reply = request(bt)
        if reply.status_code == 200:
            return attempt, reply.json()
        assert_unavailable(reply)
    raise AssertionError(f"still refused after {RECOVERY_ATTEMPTS} attempts")


def check_fault_then_recovery(bt: BrokerUnderTest, fault: Any, assume_role_calls: list[int]) -> None:
    """Grant once, then, inside ``fault``: requests and releases refused with 503, polls served,
    nothing written or minted. After it: a grant within a few attempts, and the release."""
    first = request(bt).json()
    assert first["status"] == "active"
    grants, secrets, _ = bt.counts()
    minted = len(assume_role_calls)
    with fault:
        for _ in range(3):
            assert_unavailable(request(bt))
        assert_unavailable(bt.client.post(f"/aws/grants/{first['grant_id']}/release",
                                          params={"agent_id": bt.agent_id}, headers=bt.headers()))
        polled = poll(bt, first["grant_id"])
        assert polled.status_code == 200 and polled.json()["status"] == "active"  # reads take no write lock
    assert bt.counts()[:2] == (grants, secrets) and len(assume_role_calls) == minted  # nothing half-written

    attempts, granted = attempts_until_granted(bt)
    assert attempts <= RECOVERY_ATTEMPTS and granted["status"] == "active"
    assert bt.counts()[0] == grants + 1 and len(assume_role_calls) == minted + 1
    assert poll(bt, granted["grant_id"]).json()["status"] == "active"
    released = bt.client.post(f"/aws/grants/{first['grant_id']}/release", params={"agent_id": bt.agent_id},
                              headers=bt.headers())
    assert released.status_code == 200 and released.json()["status"] == "revoked"


def test_while_the_database_files_are_read_only_writes_get_503_and_they_heal_without_a_restart(
        emulator: Any, tmp_path: Path, assume_role_calls: list[int]) -> None:
    with broker_under_test(emulator, tmp_path) as bt:
        wal = bt.db_path.with_name(bt.db_path.name + "-wal")
        check_fault_then_recovery(bt, immutable(bt.db_path, wal), assume_role_calls)


def test_while_the_disk_is_full_writes_get_503_and_they_heal_once_space_is_freed(
        emulator: Any, tmp_path: Path, assume_role_calls: list[int]) -> None:
    disk = tmp_path / "disk"
    with small_tmpfs(disk), broker_under_test(emulator, tmp_path, store_url=f"sqlite:///{disk / 'broker.db'}") as bt:
        check_fault_then_recovery(bt, disk_full(disk), assume_role_calls)


@contextmanager
def disk_full(disk: Path) -> Iterator[None]:
    truncate_wal(disk / "broker.db")
    filler = fill(disk)
    try:
        yield
    finally:
        filler.unlink()



def test_an_event_stream_stays_open_while_the_store_cannot_be_read_and_delivers_once_it_can(
        bt: BrokerUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll the store refused is skipped, not raised: the stream goes on sending keepalives."""
    monkeypatch.setattr(routes_events, "KEEPALIVE_SECONDS", 0.0)
    with LiveBroker(bt) as live, open_stream(bt, live) as stream:
        with unopenable(bt.db_path, bt.broker.deps.store.engine):  # type: ignore[attr-defined]
            for _ in range(3):  # polls every POLL_SECONDS: at least two of these under the fault
                assert stream.next_frame() == {"comment": "keepalive"}
            assert_unavailable(poll(bt, str(uuid.uuid4())))
        granted = request(bt).json()
        _, event = stream.next_grant()
    assert (event["grant_id"], event["status"]) == (granted["grant_id"], "minting")


@contextmanager
def unopenable(database: Path, engine: Any) -> Iterator[None]:
    """A link to a folder where the database file was: SQLite cannot open it. Swapped in and
    out atomically (``os.replace``), so no connection can open the path while nothing is there
    and stay open on an empty database; the pool is emptied after the swap, so no connection
    opened just before it stays open on the real file."""
    aside, folder, link = (database.with_name(name) for name in ("aside.db", "a-folder", "link"))
    os.link(database, aside)
    folder.mkdir()
    link.symlink_to(folder)
    os.replace(link, database)
    engine.dispose()
    try:
        yield
    finally:
        os.replace(aside, database)
        folder.rmdir()
