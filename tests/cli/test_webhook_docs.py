"""docs/webhooks.md lists every field the broker sends, and the broker sends every field it
lists: the documented tables are checked against real deliveries, signed and received over
HTTP by a receiver that verifies them as a customer's would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.notify.pager_fixtures import NotifyBroker, notify_broker

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
ALWAYS = ("always", "AWS")  # what an AWS grant's message must carry every time


def _tables() -> dict[str, dict[str, str]]:
    """Each ``###`` section's table: field path -> its *When* column."""
    tables: dict[str, dict[str, str]] = {}
    for section in re.split(r"^### ", DOC.read_text(), flags=re.MULTILINE)[1:]:
        title = section.splitlines()[0].strip()
        rows = re.findall(r"^\| `([a-z_.]+)` \|[^|]*\| ([^|]+) \|", section, flags=re.MULTILINE)
        tables[title] = {field: when.strip() for field, when in rows}
    return tables


TABLES = _tables()
CARD, EVENT = TABLES["The grant card (`grant`)"], TABLES["The grant event (`event`)"]


def _paths(value: dict[str, Any], documented: dict[str, str], prefix: str = "") -> Iterator[str]:
    """Every key path sent; a nested object is entered where the table documents its fields."""
    for key, item in value.items():
        path = prefix + key
        yield path
        if isinstance(item, dict) and any(d.startswith(path + ".") for d in documented):
            yield from _paths(item, documented, path + ".")


def _check(payload: dict[str, Any], documented: dict[str, str]) -> set[str]:
    sent = set(_paths(payload, documented))
    assert sent - set(documented) == set(), "sent but not documented"
    required = {field for field, when in documented.items() if when in ALWAYS}
    assert required - sent == set(), "documented as always there but not sent"
    return sent


@pytest.fixture
def nb(emulator: Any, tmp_path: Path) -> Iterator[NotifyBroker]:
    yield from notify_broker(emulator, tmp_path)


def test_the_documented_tables_are_the_ones_the_checks_read() -> None:
    assert set(TABLES["`approval_requested`"]) == {"type", "grant"}
    assert set(TABLES["`grant_resolved`"]) == {"type", "event", "grant"}
    assert len(CARD) > 25 and len(EVENT) > 20


def test_every_field_sent_is_documented_and_every_documented_field_is_sent(nb: NotifyBroker) -> None:
    approved, denied = nb.request()["grant_id"], nb.request()["grant_id"]
    nb.broker.approvals.approve(approved, "alice")
    nb.broker.approvals.deny(denied, "alice", "too broad")
    nb.dispatcher().run_once()
    hooks, callbacks = nb.receiver.on("/hook"), nb.receiver.on("/callback")
    assert all(call.verified for call in hooks + callbacks)  # signed as the document says
    by_type: dict[str, list[dict[str, Any]]] = {}
    for call in hooks:
        body = call.json()
        by_type.setdefault(body["type"], []).append(body)
        assert call.headers["X-Cloud-Broker-Event"] == {"approval_requested": "webhook_page",
                                                        "grant_resolved": "webhook_resolution"}[body["type"]]
    assert len(by_type["approval_requested"]) == 2 and len(by_type["grant_resolved"]) == 2

    card = {**CARD, "grant": "always"}
    for page in by_type["approval_requested"]:
        _check(page, {**TABLES["`approval_requested`"], **card})
    resolved_doc = {**TABLES["`grant_resolved`"], **card, **{f"event.{f}": w for f, w in EVENT.items()}}
    sent = {body["event"]["status"]: _check(body, resolved_doc) for body in by_type["grant_resolved"]}
    assert {"event.expires_at", "event.approved_by"} <= sent["active"]
    assert "event.denial_reason" in sent["denied"] and "event.expires_at" not in sent["denied"]
    pushed = {body["status"]: _check(body, EVENT) for body in (call.json() for call in callbacks)}
    assert "expires_at" in pushed["active"] and "denial_reason" in pushed["denied"]
