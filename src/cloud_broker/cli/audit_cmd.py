"""``cloud-broker audit``: the whole audit trail as JSON lines, paged, filtered, either order."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, fail, wired_from
from cloud_broker.errors import InvalidInput

_AGO = re.compile(r"(\d{1,6})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def audit(
    grant_id: Annotated[str | None, typer.Option("--grant", help="Only this grant's rows")] = None,
    agent_id: Annotated[str | None, typer.Option("--agent", help="Only this agent's rows")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only rows at or after this time: ISO 8601 (UTC unless it says), or 90s, 15m, 2h, 7d ago"),
    ] = None,
    newest_first: Annotated[bool, typer.Option("--newest-first", help="Newest row first (default: oldest first)"),
                            ] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Print at most this many rows "
                                              "(and say so on stderr when more match)")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Print the audit trail as JSON lines: every matching row, oldest first unless
    --newest-first, read page by page so a long trail costs no more memory than a short one.

    \b
    Example:
      cloud-broker audit --agent AGENT_ID --since 24h --newest-first --limit 50
      cloud-broker audit --grant GRANT_ID
    """
    from cloud_broker.cli.audit_pages import PAGE_SIZE, AuditSelection, audit_pages  # sqlalchemy: not at start-up

    selection = AuditSelection(grant_id, agent_id, parse_since(since, datetime.now(UTC)), newest_first)
    store = wired_from(config, db, state_dir).broker.deps.store
    engine = store.engine  # type: ignore[attr-defined] # the SQL store cli.wiring builds; the paged read is SQL
    page_size = min(PAGE_SIZE, limit + 1) if limit is not None else PAGE_SIZE
    printed = 0
    for page in audit_pages(engine, selection, page_size):
        for event in page:
            if printed == limit:
                typer.echo(f"audit: stopped at --limit {limit}; more rows match "
                           "(raise --limit, or narrow with --since, --grant or --agent)", err=True)
                return
            typer.echo(json.dumps(asdict(event), default=str))
            printed += 1


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """``value`` as an aware UTC time: an ISO 8601 time (naive means UTC) or an age such as ``2h``."""
    if value is None:
        return None
    ago = _AGO.fullmatch(value.strip())
    if ago:
        try:
            return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        except OverflowError:  # further back than datetime goes: nothing is older, so everything
            return datetime.min.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(InvalidInput("--since takes an ISO 8601 time (2026-11-29T08:00:00Z) "
                                "or an age (90s, 15m, 2h, 7d)")) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
