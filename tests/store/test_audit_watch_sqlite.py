"""On SQLite the watcher names whose rows arrived by reading them, within fixed bounds.

SQLite has no notifications, so after a poll finds the head moved the watcher reads the
distinct (agent, run) pairs of the new rows, so that only those streams read. Run ids are the
agents' to choose: past ``MAX_SCANNED`` new rows or ``MAX_PAIRS`` pairs the answer is
"unknown" (every stream looks once), never a longer read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud_broker.service.ports import AuditEvent
from cloud_broker.store import audit_watch
from cloud_broker.store.sql import SqlStore


def test_the_new_rows_agents_and_runs_are_named_within_the_bounds(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'broker.db'}")
    watch = store.audit_watch()
    start = watch.wait(0, timeout=0).head
    with store.unit_of_work() as uow:
        for run in ("r-1", "r-2", "r-2", "r-3"):
            uow.append_audit(AuditEvent(event="grant.requested", actor="test", at=datetime.now(UTC),
                                        agent_id="agent-a", run_id=run))
        uow.append_audit(AuditEvent(event="config.reloaded", actor="operator", at=datetime.now(UTC)))
    assert watch.wait(start, timeout=0).touched == {("agent-a", "r-1"), ("agent-a", "r-2"), ("agent-a", "r-3"),
                                                    ("", "")}
    assert watch.wait(start + 1, timeout=0).touched == {("agent-a", "r-2"), ("agent-a", "r-3"), ("", "")}
    monkeypatch.setattr(audit_watch, "MAX_PAIRS", 3)
    assert watch.wait(start, timeout=0).touched is None
    monkeypatch.setattr(audit_watch, "MAX_PAIRS", 500)
    monkeypatch.setattr(audit_watch, "MAX_SCANNED", 4)
    assert watch.wait(start, timeout=0).touched is None
    assert watch.wait(start + 1, timeout=0).touched is not None
    head = watch.wait(0, timeout=0).head
    assert watch.wait(head, timeout=0).touched == frozenset()  # nothing new
    watch.close()
    store.engine.dispose()
