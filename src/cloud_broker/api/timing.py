"""The ``Server-Timing`` header (W3C Server Timing): where a reply's time went, for its caller.

A grant reply names the cloud provider's call (``provider;dur=<ms>``), so a client or a
benchmark can tell the broker's own time from the cloud's without reading the server's logs.
It carries a duration and nothing else: no name of a role, account or credential.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Response

HEADER = "Server-Timing"
PROVIDER = "provider"


def add_provider_time(response: Response, took: timedelta | None) -> None:
    """Name the provider's call in ``response``; nothing when no provider was called."""
    if took is not None:
        response.headers[HEADER] = f"{PROVIDER};dur={took.total_seconds() * 1000:.3f}"
