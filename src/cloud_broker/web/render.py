"""HTML rendering: one Jinja2 environment, autoescaping every template.

Much of what a page shows was written by an agent (reason, task id, resource names, source
conversation) or by a person (comments). All of it goes through autoescaping and none of it
through ``|safe``; the Content-Security-Policy forbids scripts as a second line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from cloud_broker.config import BrokerConfig
from cloud_broker.domain.grants import Grant
from cloud_broker.service.ports import ConsoleSession
from cloud_broker.web.guard import base_path

TEMPLATES = Path(__file__).parent / "templates"

# AWS has no way to end an STS session early: revoking only stops the broker handing the
# credentials out, and the page must not let an approver believe more than that.
REVOKED = "Revoked: the broker no longer hands these credentials out. {note}."

# Fixed texts chosen by code after a POST: the redirect carries a key, never a message,
# so the query string cannot be used to put words on the page.
FLASH = {
    "approve-active": "Approved: credentials were issued to the agent.",
    "approve-minting": "Approved: credentials are being issued.",
    "approve-pending": "Your approval was recorded; the request needs more approvals.",
    "approve-denied": "Not approved: today's ceiling no longer allows this request, so it was denied.",
    "approve-failed": "Approved, but issuing the credentials failed; see the audit trail.",
    "denied": "The request was denied.",
    "commented": "Your comment was added to the audit trail.",
    "revoked": REVOKED.format(note="Copies already read stop working when the cloud refuses them, at the latest "
                                   "when they expire"),
    "signed-out": "You are signed out.",
}

# Every family's access levels, by the colour they are shown in (AWS: IAM's levels; GCP: the
# levels ``families.gcp.sensitivity`` reads from a permission's verb).
LEVEL_CLASSES = {
    "list": "level-list", "read": "level-read", "tagging": "level-tagging",
    "write": "level-write", "admin": "level-permissions", "permissions": "level-permissions",
    "permissions management": "level-permissions",
}


class Renderer:
    def __init__(self, config: BrokerConfig, clock: Callable[[], datetime]) -> None:
        self._config = config
        self._clock = clock
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters.update(
            when=when, duration=duration, target=redact_target, level_class=level_class,
            age=self.age, agent_name=self.agent_name, status_now=self.status_now, actions=actions,
        )

    def page(self, request: Request, template: str, *, status: int = 200,
             session: ConsoleSession | None = None, **context: Any) -> HTMLResponse:
        """Render ``template`` with what every page needs: where the console lives and who is signed in."""
        view = context.get("view")
        flash = flash_text(request.query_params.get("flash", ""), context.get("grant"),
                           getattr(view, "revocation_note", None))
        body = self._env.get_template(template).render(
            base=base_path(request), session=session, flash=flash, error=context.pop("error", None), **context,
        )
        return HTMLResponse(body, status_code=status)

    def age(self, at: datetime | None) -> str:
        if at is None:
            return "—"
        seconds = int((self._clock() - at).total_seconds())
        return "< 1 min" if seconds < 60 else duration(seconds)

    def status_now(self, grant: Grant) -> str:
        """A pending grant past its deadline reads as expired before the sweeper writes it down."""
        return grant.status_at(self._clock()).value

    def agent_name(self, agent_id: str) -> str:
        agent = self._config.agent(agent_id)
        return agent.name if agent is not None else "unknown agent"



def actions(grant: Grant) -> tuple[str, ...]:
    """A grant's first scope list: its actions (AWS) or permissions (GCP), as its family orders them."""
    return next(iter(grant.scope.values()), ())


def flash_text(key: str, grant: Grant | None, note: str | None = None) -> str | None:
    """The banner for ``key``. After a revoke it says what happens to copies already read: the
    family's ``revocation_note`` for the grant on the page (never from the query string)."""
    if key == "revoked" and grant is not None and note is not None:
        return REVOKED.format(note=note)
    return FLASH.get(key)


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else "—"


def duration(value: timedelta | float) -> str:
    """900 -> '15 min', 5400 -> '1 h 30 min', 93600 -> '1 d 2 h'."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours >= 24:
        return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"
    if hours:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{minutes} min"


def redact_target(target: str) -> str:
    """A delivery target without the path and query of a URL: webhook URLs often embed a secret."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https"):
        return target
    try:
        host = (parts.hostname or "?") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return f"{parts.scheme}://(unreadable address)"
    return f"{parts.scheme}://{host}/…" if parts.path.strip("/") or parts.query else f"{parts.scheme}://{host}"


def level_class(level: str | None) -> str:
    return LEVEL_CLASSES.get((level or "").lower(), "level-none")
