"""Chaos: grant load from several clients against two ``serve`` processes on one PostgreSQL,
one of them SIGKILLed at random moments and restarted, several times. Afterwards the store
must be whole: nothing stuck in ``minting`` or ``pending`` past its deadline, no ``active`` grant
without its sealed secret, no secret without its grant, every grant a client was told about
present, and each grant's audit trail complete and in order. The counts are printed."""

from __future__ import annotations

import base64
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from cloud_broker.cli.sandbox import write_sandbox_state
from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.sandbox.gcp import start_gcp_double
from tests.api.conftest import forget_revocations
from tests.e2e.serve_process import Serve
from tests.e2e.test_several_brokers import _source

pytestmark = pytest.mark.e2e

CLIENTS, KILLS = 4, 3
READ = {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::reports/*"], "regions": ["us-east-1"],
        "ttl_seconds": 900}
WRITE = {**READ, "actions": ["s3:PutObject"]}


class Load:
    """Clients filing grants against whichever broker is up; what each was told is kept."""

    def __init__(self, brokers: list[Serve], info: dict[str, Any]) -> None:
        self.brokers, self.info = brokers, info
        self.acknowledged: dict[str, str] = {}
        self.errors = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            broker = rng.choice(self.brokers)
            body = {**(WRITE if rng.random() < 0.2 else READ), "account_id": self.info["account_id"],
                    "agent_id": self.info["agent_id"], "run_id": str(uuid.uuid4())}
            try:
                token = broker.token(self.info["host_api_key"])
                status, reply = broker.call("POST", "/aws/grants", body, token, timeout=15)
            except (OSError, AssertionError, ValueError):
                with self._lock:
                    self.errors += 1  # the broker was down or died under the request: nothing acknowledged
                time.sleep(0.05)
                continue
            if status == 200:
                with self._lock:
                    self.acknowledged[reply["grant_id"]] = reply["status"]


@pytest.fixture
def chaos_world(emulator: Any, postgres_server: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = postgres_server.new_database()
    with start_gcp_double() as gcp:
        info = write_sandbox_state(tmp_path / "state", emulator, gcp, requests_per_minute=10_000)
        try:
            yield {"url": url, "info": info, "root": tmp_path,
                   "env": {"CLOUD_BROKER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}}
        finally:
            postgres_server.drop_database(url)
            forget_revocations(AwsStsProvider(_source(emulator), endpoint_url=emulator.endpoint_url), emulator)


def test_brokers_killed_at_random_leave_a_whole_store(chaos_world: dict[str, Any]) -> None:
    url, info, env, root = chaos_world["url"], chaos_world["info"], chaos_world["env"], chaos_world["root"]
    state = Path(info["state_dir"])
    brokers = [Serve(state, root / f"broker-{i}.log", db=url, **env) for i in range(2)]
    load = Load(brokers, info)
    clients = [threading.Thread(target=load.run, args=(seed,), daemon=True) for seed in range(CLIENTS)]
    for client in clients:
        client.start()
    rng = random.Random(7)
    try:
        for kill in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            victim = rng.randrange(len(brokers))
            brokers[victim].kill()
            brokers[victim] = Serve(state, root / f"broker-{victim}.log", db=url, **env)
            load.brokers = list(brokers)
        time.sleep(1.0)
    finally:
        load.stop.set()
        for client in clients:
            client.join(30)
    try:
        counts = _settled_counts(url, load.acknowledged)
    finally:
        for broker in brokers:
            broker.stop()
    print(f"\nchaos: {len(load.acknowledged)} grants acknowledged, {load.errors} requests refused or cut off around {KILLS} kills; "
          + ", ".join(f"{name}={value}" for name, value in counts.items()))
    assert len(load.acknowledged) > 0
    assert counts == dict.fromkeys(counts, 0)


def _settled_counts(url: str, acknowledged: dict[str, str]) -> dict[str, int]:
    """The store's faults once the survivors had time to settle what the dead left (an instance
    lease of 20 s, then a sweep): polled, with a generous deadline against a hang."""
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 120
        counts = _counts(engine, acknowledged)
        while counts["stuck_minting"] and time.monotonic() < deadline:
            time.sleep(1.0)
            counts = _counts(engine, acknowledged)
        return counts
    finally:
        engine.dispose()


def _counts(engine: Any, acknowledged: dict[str, str]) -> dict[str, int]:
    now = datetime.now(UTC)
    with engine.connect() as db:
        scalar = lambda sql, **p: int(db.execute(text(sql), p).scalar_one())
        stored = {r[0] for r in db.execute(text("SELECT grant_id FROM grants"))}
        trails: dict[str, list[tuple[str, datetime]]] = {}
        for grant_id, event, at in db.execute(text(
                "SELECT grant_id, event, at FROM audit_events WHERE grant_id IS NOT NULL ORDER BY seq")):
            trails.setdefault(grant_id, []).append((event, at))
        statuses = dict(db.execute(text("SELECT grant_id, status FROM grants")).all())
        return {
            "stuck_minting": scalar("SELECT count(*) FROM grants WHERE status = 'minting'"),
            "stuck_pending": scalar("SELECT count(*) FROM grants WHERE status = 'pending' AND pending_expires_at < :now",
                                    now=now),
            "active_without_secret": scalar(
                "SELECT count(*) FROM grants g LEFT JOIN grant_secrets s ON s.grant_id = g.grant_id "
                "WHERE g.status = 'active' AND s.grant_id IS NULL"),
            "secrets_without_grant": scalar(
                "SELECT count(*) FROM grant_secrets s LEFT JOIN grants g ON g.grant_id = s.grant_id WHERE g.grant_id IS NULL"),
            "acknowledged_missing": len(set(acknowledged) - stored),
            "trail_incomplete": sum(1 for g, status in statuses.items() if not _trail_complete(trails.get(g, []), status)),
            "trail_out_of_order": sum(1 for trail in trails.values() if [at for _, at in trail] != sorted(at for _, at in trail)),
        }


def _trail_complete(trail: list[tuple[str, datetime]], status: str) -> bool:
    events = [event for event, _ in trail]
    if not events or events[0] != "grant.requested":
        return False
    needed = {"active": "grant.minted", "failed": "grant.failed", "denied": "grant.denied"}.get(status)
    return needed is None or needed in events
