"""``cloud-broker audit`` on a trail longer than any one page or the old 1,000-row cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloud_broker.cli.audit_cmd import parse_since
from cloud_broker.cli.audit_pages import AuditSelection, audit_pages
from cloud_broker.cli.main import app
from cloud_broker.service.ports import AuditEvent
from cloud_broker.store.sql import SqlStore

ROWS = 1_600
START = datetime(2026, 1, 1, tzinfo=UTC)
AGENTS = ("agent-a", "agent-b")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dir whose store holds ROWS audit rows, one a minute, alternating two agents."""
    state = tmp_path_factory.mktemp("audit")
    (state / "broker.yaml").write_text("{}\n")
    store = SqlStore.open(f"sqlite:///{state / 'broker.db'}")
    with store.unit_of_work() as uow:
        for n in range(ROWS):
            uow.append_audit(AuditEvent(event="grant_requested", actor="test", at=START + timedelta(minutes=n),
                                        grant_id=f"grant-{n % 7}", agent_id=AGENTS[n % 2], detail={"n": n}))
    store.engine.dispose()
    return state


def _audit(state: Path, *args: str) -> tuple[list[dict[str, object]], str]:
    done = CliRunner().invoke(app, ["audit", "--state-dir", str(state), *args])
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def test_every_row_is_printed_oldest_first_past_a_thousand(state: Path) -> None:
    rows, stderr = _audit(state)
    assert [r["detail"]["n"] for r in rows] == list(range(ROWS))  # type: ignore[index]
    assert stderr == ""


def test_newest_first_reverses_the_whole_trail(state: Path) -> None:
    rows, _ = _audit(state, "--newest-first")
    assert [r["detail"]["n"] for r in rows] == list(reversed(range(ROWS)))  # type: ignore[index]


def test_filters_combine(state: Path) -> None:
    since = (START + timedelta(minutes=1_000)).isoformat()
    rows, _ = _audit(state, "--agent", "agent-b", "--grant", "grant-3", "--since", since)
    expected = [n for n in range(1_000, ROWS) if n % 2 == 1 and n % 7 == 3]
    assert [r["detail"]["n"] for r in rows] == expected  # type: ignore[index]


def test_a_limit_that_cuts_the_output_says_so(state: Path) -> None:
    rows, stderr = _audit(state, "--newest-first", "--limit", "1200")
    assert [r["detail"]["n"] for r in rows] == list(range(ROWS - 1, ROWS - 1201, -1))  # type: ignore[index]
    assert "stopped at --limit 1200; more rows match" in stderr


def test_a_limit_that_cuts_nothing_is_silent(state: Path) -> None:
    rows, stderr = _audit(state, "--grant", "grant-0", "--limit", str(ROWS))
    assert len(rows) == len(range(0, ROWS, 7)) and stderr == ""


def test_rows_are_read_in_bounded_pages(state: Path) -> None:
    """Memory follows the page, not the trail: no read returns more than a page."""
    store = SqlStore.open(f"sqlite:///{state / 'broker.db'}")
    pages = list(audit_pages(store.engine, AuditSelection(newest_first=True), page_size=300))
    store.engine.dispose()
    assert [len(p) for p in pages] == [300] * 5 + [100]
    assert pages[0][0].detail["n"] == ROWS - 1 and pages[-1][-1].detail["n"] == 0


def test_since_takes_an_age_or_a_time_and_refuses_anything_else(state: Path) -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("2026-05-01T10:00:00", now) == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert parse_since("2026-05-01T10:00:00+02:00", now) == datetime(2026, 5, 1, 8, tzinfo=UTC)
    done = CliRunner().invoke(app, ["audit", "--state-dir", str(state), "--since", "yesterday"])
    assert done.exit_code == 2 and "--since takes an ISO 8601 time" in done.stderr and done.stdout == ""


def test_an_age_beyond_the_calendar_means_everything(state: Path) -> None:
    rows, _ = _audit(state, "--since", "999999d", "--limit", "3")
    assert [r["detail"]["n"] for r in rows] == [0, 1, 2]  # type: ignore[index]
