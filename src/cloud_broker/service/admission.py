"""Whether a request may be filed at all: the bounds on what one agent may leave behind.

Every grant request is a row and an audit record that can never be deleted, and every pending
one is a request in front of people. An agent varying a request a byte at a time must not be
able to file, page or store without end. Both checks run in the unit of work that inserts, so
requests racing at a bound cannot all pass it, and a refusal rolls everything back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.errors import Forbidden, TooManyRequests
from cloud_broker.service import stops
from cloud_broker.service.ports import OpenPending, UnitOfWork

if TYPE_CHECKING:
    from cloud_broker.config import BrokerSettings

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(minutes=1)
_WHAT_TO_DO = ("wait for an approver to decide one, or withdraw a pending request you no longer need "
               "({release_tool} with its grant_id), then ask again; repeating a pending request "
               "unchanged returns it and is not refused")


def admit_request(uow: UnitOfWork, grant: Grant, now: datetime, settings: BrokerSettings,
                  release_tool: str = "the release tool") -> None:
    """Raise ``TooManyRequests`` when ``grant`` may not be filed now, ``Forbidden`` when the
    operator's kill switch stopped its agent, run or team; write nothing either way.
    ``release_tool`` is the family's tool that withdraws a request, named in the refusal."""
    stop = stops.stopped(uow, grant)
    if stop is not None:
        kind, value, at = stop
        raise Forbidden(f"the operator's kill switch stopped this {kind} at {at:%Y-%m-%dT%H:%M:%SZ}; no grant can "
                        f"be requested until an operator resumes it (cloud-broker resume --{kind} {value})",
                        code="STOPPED")
    filed = uow.count_recent_requests(grant.agent_id, now - RATE_WINDOW)
    if filed >= settings.max_requests_per_agent_per_minute:
        # A log line for operators, not an audit row: a flood of refusals must not become rows.
        log.warning("refused a request of agent %s: %d filed in the last minute", grant.agent_id, filed)
        raise TooManyRequests(
            f"this agent filed {filed} requests in the last minute and broker.max_requests_per_agent_per_minute "
            f"allows {settings.max_requests_per_agent_per_minute}: wait a minute, and do not re-send variations "
            "of a refused request", code="TOO_MANY_REQUESTS")
    if grant.status is GrantStatus.PENDING:
        _check_caps(grant, uow.count_open_pending(grant.agent_id, grant.run_id, now), settings, release_tool)


def _check_caps(grant: Grant, open_now: OpenPending, settings: BrokerSettings, release_tool: str) -> None:
    """Refuse a new pending grant beyond the run's or the agent's cap (``broker.max_pending_*``).

    Every pending grant is a request in front of people; without a cap, an agent that varies a
    request by one byte at a time would file, and page, without end. The run's cap is checked
    first: it is the narrower one, and the one the agent can do most about."""
    caps = (("run", open_now.run, settings.max_pending_per_run, "max_pending_per_run"),
            ("agent", open_now.agent, settings.max_pending_per_agent, "max_pending_per_agent"))
    for holder, count, cap, field_name in caps:
        if count >= cap:
            # A log line for operators, not an audit row: a refusal changes nothing, and a flood
            # of refusals must not become a flood of rows either.
            log.warning("refused a request of agent %s: its %s holds %d pending of %d", grant.agent_id, holder,
                        count, cap)
            raise TooManyRequests(
                f"this {holder} already has {count} requests waiting for approval and broker.{field_name} "
                f"allows {cap} at a time: {_WHAT_TO_DO.format(release_tool=release_tool)}",
                code="TOO_MANY_PENDING",
            )


