"""The console's pages: the pending queue, one grant in full, and the history.

Routes are plain ``def``: they read the store and FastAPI runs them off the event loop.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.ids import canonical_uuid, is_uuid
from cloud_broker.domain.requests import MIN_TTL
from cloud_broker.domain.scope import ScopeField
from cloud_broker.errors import InvalidInput, NotFound
from cloud_broker.policy.decision import Decision, Pair
from cloud_broker.policy.risk import RiskSummary
from cloud_broker.service.family import Target, target_of
from cloud_broker.service.ports import AuditEvent, ConsoleSession, GrantFilter
from cloud_broker.service.review import QUEUE_LIMIT
from cloud_broker.web.context import Console, console_of
from cloud_broker.web.guard import Session
from cloud_broker.web.render import when

router = APIRouter()

SHOWN_PAIRS = 100
SUMMARY_ACTIONS = 3
HISTORY_ROWS = 100
Param = Annotated[str, Query(max_length=256)]


@dataclass(frozen=True)
class QueueRow:
    grant: Grant
    target: Target
    risk: RiskSummary
    approvals: int
    required: int
    # This request's place among its agent's pending ones (1 = the agent's oldest), and how many.
    turn: int = 1
    of: int = 1

    @property
    def actions_summary(self) -> str:
        return summarise(next(iter(self.grant.scope.values()), ()))


@dataclass(frozen=True)
class GrantView:
    """How the grant page shows a grant of its family: the target, the scope's lists in the
    family's order (the first holds the actions), and what revoking it does."""

    target: Target
    fields: tuple[ScopeField, ...]
    revocation_note: str

    @property
    def first(self) -> ScopeField:
        return self.fields[0]

    @property
    def listed(self) -> tuple[ScopeField, ...]:
        """The lists after the first that are shown as lists (not inline among the facts)."""
        return tuple(field for field in self.fields[1:] if not field.inline)

    @property
    def inline(self) -> tuple[ScopeField, ...]:
        return tuple(field for field in self.fields if field.inline)


@dataclass(frozen=True)
class AgentLoad:
    """One agent's share of the queue: a flood shows as one line here, not as the whole page."""

    agent_id: str
    team: str
    pending: int
    oldest_at: datetime


@dataclass(frozen=True)
class CoverageRow:
    action: str
    resource: str
    rule: str | None
    kind: str  # uncovered | covered | not_applicable


@dataclass(frozen=True)
class Coverage:
    """The decision's pairs as one table: what needs a human first, then what a rule covers."""

    rows: tuple[CoverageRow, ...]
    counts: dict[str, int]
    hidden: int


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, session: Session) -> HTMLResponse:
    console = console_of(request)
    grants = console.review.queue(session.approver)
    totals = Counter(g.agent_id for g in grants)
    turns: Counter[str] = Counter()
    rows = []
    for grant in grants:
        turns[grant.agent_id] += 1
        rows.append(_queue_row(console, grant, turns[grant.agent_id], totals[grant.agent_id]))
    return console.renderer.page(request, "queue.html", session=session, rows=rows, agents=agent_loads(grants),
                                 limit=QUEUE_LIMIT)


def agent_loads(grants: list[Grant]) -> list[AgentLoad]:
    """Pending requests per agent, the busiest first."""
    by_agent: dict[str, list[Grant]] = {}
    for grant in grants:
        by_agent.setdefault(grant.agent_id, []).append(grant)
    loads = [AgentLoad(agent_id, mine[0].team, len(mine), min(g.created_at for g in mine))
             for agent_id, mine in by_agent.items()]
    return sorted(loads, key=lambda load: (-load.pending, load.oldest_at))


@router.get("/grants/{grant_id}", response_class=HTMLResponse)
def grant_page(request: Request, grant_id: str, session: Session) -> HTMLResponse:
    return show_grant(request, session, grant_id)


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, session: Session, status: Param = "", team: Param = "", target: Param = "",
            account: Param = "", agent: Param = "", approver: Param = "") -> HTMLResponse:
    """``account`` is the name ``target`` had while AWS was the only family: old links still work."""
    console = console_of(request)
    chosen = {"status": status, "team": team, "target": target or account, "agent": agent, "approver": approver}
    where = _history_filter(console, chosen)
    grants = console.review.history(session.approver, where)
    return console.renderer.page(request, "history.html", session=session, grants=grants, chosen=chosen,
                                 options=_filter_options(console), summarise=summarise)


def show_grant(request: Request, session: ConsoleSession, grant_id: str, *, status: int = 200,
               error: str | None = None) -> HTMLResponse:
    """The grant page; also re-rendered with an error banner when an action on it failed."""
    console = console_of(request)
    review = console.review.detail(checked_grant_id(grant_id), session.approver)
    deps = console.broker.deps
    grant = review.grant
    family = deps.family(grant.family)
    view = GrantView(target_of(deps, grant.family, grant.target), family.scope_fields,
                     family.revocation_note(when(grant.expires_at)))
    return console.renderer.page(
        request, "grant.html", status=status, session=session, error=error, review=review,
        grant=grant, agent=deps.config.agent(grant.agent_id), coverage=coverage(review.decision), view=view,
        min_ttl=int(MIN_TTL.total_seconds()),
        ttl=int(review.grant.ttl.total_seconds()), notes={e.seq: audit_note(e, family.scope_fields) for e in review.audit},
    )


def checked_grant_id(grant_id: str) -> str:
    """Grant ids are UUIDs; anything else cannot exist, so it is a 404 before any lookup."""
    if not is_uuid(grant_id):
        raise NotFound("no such grant", code="GRANT_NOT_FOUND")
    return canonical_uuid(grant_id)


def summarise(actions: tuple[str, ...]) -> str:
    shown = ", ".join(actions[:SUMMARY_ACTIONS])
    more = len(actions) - SUMMARY_ACTIONS
    return f"{shown} and {more} more" if more > 0 else shown


def coverage(decision: Decision) -> Coverage:
    groups: tuple[tuple[str, tuple[Pair, ...]], ...] = (
        ("uncovered", decision.uncovered), ("covered", decision.covered), ("not_applicable", decision.not_applicable),
    )
    rows = [CoverageRow(p.action, p.resource, p.rule, kind) for kind, pairs in groups for p in pairs[:SHOWN_PAIRS]]
    counts = {kind: len(pairs) for kind, pairs in groups}
    return Coverage(rows=tuple(rows), counts=counts, hidden=sum(counts.values()) - len(rows))


def audit_note(event: AuditEvent, fields: tuple[ScopeField, ...] = ()) -> str:
    """The part of an audit row's detail an approver needs, in words; never the raw blob.
    ``fields``: the grant's family's scope lists, to say what an approver narrowed."""
    detail: dict[str, Any] = event.detail or {}
    notes = []
    if "approvals" in detail and "required" in detail:
        notes.append(f"approvals {len(detail['approvals'])} of {detail['required']}: {', '.join(map(str, detail['approvals']))}")
    narrowed = detail.get("narrowed_to")
    if isinstance(narrowed, dict):
        lists = ", ".join(f"{len(narrowed.get(field.key) or [])} {field.form_name}(s)"
                          for field in fields if field.narrowable)
        notes.append(f"narrowed to {lists + ', ' if lists else ''}TTL {narrowed.get('ttl_seconds')} s")
    if "result" in detail:  # rows written before revocations in the cloud were jobs
        notes.append(f"cloud: {detail['result']}")
    if "revoked_in_cloud" in detail:
        notes.append(f"in the cloud: revoked={detail['revoked_in_cloud']}; {detail.get('detail', '')}")
    return "; ".join(notes)


def _queue_row(console: Console, grant: Grant, turn: int, of: int) -> QueueRow:
    deps = console.broker.deps
    requirement = console.broker.approvals.requirement(grant)
    risk = deps.family(grant.family).risk(grant.scope)
    return QueueRow(grant=grant, target=target_of(deps, grant.family, grant.target), risk=risk,
                    approvals=len(grant.approvals), required=requirement.required, turn=turn, of=of)


def _history_filter(console: Console, chosen: dict[str, str]) -> GrantFilter:
    status = chosen["status"].strip()
    if status and status not in {s.value for s in GrantStatus}:
        raise InvalidInput(f"unknown status; use one of {', '.join(s.value for s in GrantStatus)}")
    return GrantFilter(
        statuses=(GrantStatus(status),) if status else (),
        team=chosen["team"].strip() or None,
        target=chosen["target"].strip() or None,
        agent_id=_agent_id(console, chosen["agent"].strip()) or None,
        approver=chosen["approver"].strip() or None,
        limit=HISTORY_ROWS,
    )


def _agent_id(console: Console, value: str) -> str:
    """An agent is picked by id, or by name when exactly one agent has that name."""
    if not value or is_uuid(value):
        return canonical_uuid(value)
    named = [a.id for a in console.broker.deps.config.agents if a.name == value]
    return named[0] if len(named) == 1 else value


def _filter_options(console: Console) -> dict[str, list[tuple[str, str]]]:
    """(value, label) pairs for the history filter's selects, from broker.yaml."""
    config = console.broker.deps.config
    return {
        "status": [(s.value, s.value) for s in GrantStatus],
        "team": [(t.name, t.name) for t in config.teams],
        "target": [(t.target, f"{family.words.target_noun} {t.display_name} ({t.target})")
                   for family in console.broker.deps.families.values() for t in family.targets(config)],
        "agent": [(a.id, f"{a.name} ({a.team})") for a in config.agents],
        "approver": [(a.name, a.display_name or a.name) for a in config.approvers],
    }
