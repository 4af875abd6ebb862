"""What the console was built with, reachable from any request (no module-level globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from cloud_broker.service.broker import Broker
    from cloud_broker.service.review import Review
    from cloud_broker.web.render import Renderer
    from cloud_broker.web.sessions import Sessions
    from cloud_broker.web.sso import SingleSignOn


@dataclass(frozen=True)
class Console:
    broker: Broker
    review: Review
    sessions: Sessions
    renderer: Renderer
    sso: SingleSignOn | None = None


def console_of(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]
