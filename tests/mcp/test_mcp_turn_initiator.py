"""The turn initiator comes only from the host runtime's files, ledger first (contract §5.5)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from mcp_broker_stub import StubBroker
from mcp_harness import ACCOUNT, connect

from cloud_broker.mcp.turn_initiator import LEDGER_NAME, TurnInitiatorReader

NOW = 1_750_000_000_000.0
FIVE_MINUTES = 5 * 60 * 1000
ALICE = {"channel": "slack:C1", "sender_id": "U-ALICE"}
BOB = {"channel": "slack:C2", "sender_id": "U-BOB"}


def entry(who: dict[str, str], age_ms: float = 1000, **extra: Any) -> dict[str, Any]:
    return {**who, "ts": NOW - age_ms, **extra}


def reader(tmp_path: Path, warnings: list[str] | None = None) -> TurnInitiatorReader:
    sink = warnings if warnings is not None else []
    return TurnInitiatorReader(tmp_path / "turn-initiator.json", warn=sink.append, clock_ms=lambda: NOW)


def write_marker(tmp_path: Path, value: Any) -> None:
    (tmp_path / "turn-initiator.json").write_text(value if isinstance(value, str) else json.dumps(value))


def write_ledger(tmp_path: Path, value: Any) -> None:
    (tmp_path / LEDGER_NAME).write_text(value if isinstance(value, str) else json.dumps(value))


def test_nothing_is_attached_without_a_configured_marker() -> None:
    assert TurnInitiatorReader(None, warn=print).read() is None


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        (entry(ALICE, extra_key="dropped"), ALICE),
        (entry(ALICE, age_ms=0), ALICE),
        (entry(ALICE, age_ms=FIVE_MINUTES), ALICE),
        (entry(ALICE, age_ms=FIVE_MINUTES + 1), None),  # stale
        (entry(ALICE, age_ms=-1), None),  # from the future
        ({**ALICE, "ts": str(NOW)}, None),  # ts must be a number
        ({**ALICE, "ts": True}, None),
        ({**ALICE}, None),
        (entry({"channel": "", "sender_id": "U1"}), None),
        (entry({"channel": "c", "sender_id": 7}), None),
        ([entry(ALICE)], None),
        ("{not json", None),
    ],
)
def test_marker_is_used_only_when_fresh_and_well_formed(tmp_path: Path, marker: Any, expected: Any) -> None:
    write_marker(tmp_path, marker)
    assert reader(tmp_path).read() == expected


def test_a_missing_marker_file_attaches_nothing(tmp_path: Path) -> None:
    assert reader(tmp_path).read() is None


def test_exactly_one_fresh_ledger_entry_wins_over_the_marker(tmp_path: Path) -> None:
    write_ledger(tmp_path, {"v": 1, "entries": [entry(BOB), entry(ALICE, age_ms=FIVE_MINUTES + 5), "junk"]})
    write_marker(tmp_path, entry(ALICE))
    assert reader(tmp_path).read() == BOB


def test_two_fresh_ledger_entries_withhold_without_falling_back(tmp_path: Path) -> None:
    warnings: list[str] = []
    write_ledger(tmp_path, {"v": 1, "entries": [entry(BOB), entry(ALICE)]})
    write_marker(tmp_path, entry(ALICE))
    assert reader(tmp_path, warnings).read() is None
    assert len(warnings) == 1 and "ambiguous" in warnings[0] and "U-ALICE" not in warnings[0]


@pytest.mark.parametrize(
    "ledger",
    [
        {"v": 1, "entries": [entry(BOB, age_ms=FIVE_MINUTES + 1)]},  # no fresh entry
        {"v": 1, "entries": []},
        {"v": 2, "entries": [entry(BOB)]},
        {"v": True, "entries": [entry(BOB)]},
        {"v": 1, "entries": {"0": entry(BOB)}},
        [entry(BOB)],
        "{broken",
    ],
)
def test_an_unusable_ledger_falls_back_to_the_marker(tmp_path: Path, ledger: Any) -> None:
    write_ledger(tmp_path, ledger)
    write_marker(tmp_path, entry(ALICE))
    assert reader(tmp_path).read() == ALICE


@pytest.mark.anyio
async def test_the_initiator_is_read_fresh_for_every_request_and_sent_as_channel_and_sender(
    stub: StubBroker, tmp_path: Path
) -> None:
    marker = tmp_path / "turn-initiator.json"
    request = {"account_id": ACCOUNT, "actions": ["s3:ListBucket"], "resources": ["arn:aws:s3:::r"], "regions": ["eu-west-1"]}
    async with connect(stub, turn_initiator_file=marker) as session:
        await session.call_json("aws_request_access", request)
        marker.write_text(json.dumps({**ALICE, "ts": time.time() * 1000, "note": "x"}))
        await session.call_json("aws_request_access", {**request, "turn_initiator": BOB})
        ledger = {"v": 1, "entries": [{**who, "ts": time.time() * 1000} for who in (ALICE, BOB)]}
        (tmp_path / LEDGER_NAME).write_text(json.dumps(ledger))
        await session.call_json("aws_request_access", request)
    bodies = [call.json() for call in stub.calls("/aws/grants")]
    assert [body.get("turn_initiator") for body in bodies] == [None, ALICE, None]
    assert any("ambiguous" in warning for warning in session.warnings)
