"""The pending queue under a flood: one agent's many requests neither bury nor crowd out another's."""

from __future__ import annotations

import re
from datetime import timedelta

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.service.ports import GrantFilter
from tests.web.conftest import ConsoleUnderTest

_GRANT_LINK = re.compile(r'/console/grants/([0-9a-f-]{36})')
FLOOD = 5


def _linked(html: str) -> list[str]:
    return list(dict.fromkeys(_GRANT_LINK.findall(html)))


def _a2(ct: ConsoleUnderTest) -> str:
    return next(a.id for a in ct.broker.deps.config.agents if a.name == "a2")


def _flood_then_one_other(ct: ConsoleUnderTest) -> tuple[list[str], str]:
    """FLOOD requests of a1, then, newest of all, one of a2 (same team and ceiling)."""
    flood = []
    for index in range(FLOOD):
        flood.append(ct.pending_grant(resources=[f"arn:aws:s3:::reports/{index}/*"]))
        ct.clock.offset += timedelta(seconds=1)
    return flood, ct.pending_grant(agent_id=_a2(ct))


def test_every_agents_oldest_request_comes_before_any_agents_second(ct: ConsoleUnderTest) -> None:
    flood, other = _flood_then_one_other(ct)
    ct.sign_in("alice")
    page = ct.client.get("/console/").text
    assert _linked(page) == [flood[0], other, *flood[1:]]
    assert f"2 of {FLOOD}" in page and f"{FLOOD} of {FLOOD}" in page


def test_the_queue_counts_pending_requests_per_agent(ct: ConsoleUnderTest) -> None:
    _flood_then_one_other(ct)
    ct.sign_in("alice")
    page = ct.client.get("/console/").text
    per_agent = page.split('aria-label="Pending requests per agent"')[1].split("</table>")[0]
    rows = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in per_agent.split("<tr>")[2:]]
    assert [row.split(" ")[:3] for row in rows] == [["a1", "data", str(FLOOD)], ["a2", "data", "1"]]


def test_a_limit_on_the_query_cannot_cut_another_agent_out(ct: ConsoleUnderTest) -> None:
    flood, other = _flood_then_one_other(ct)
    where = GrantFilter(statuses=(GrantStatus.PENDING,), oldest_first=True, each_agent_in_turn=True, limit=2)
    with ct.broker.deps.store.unit_of_work() as uow:
        assert [g.grant_id for g in uow.search_grants(where)] == [flood[0], other]
