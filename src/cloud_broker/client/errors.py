"""The one error a client of the broker (the MCP server, the resolver) raises about broker calls.

It lives here rather than in :mod:`cloud_broker.errors` because it travels the other way:
those errors are what the broker *answers*; this one is what a *client* of the broker
saw, and its text is exactly what the model reads (contract §3.4) or what the resolver prints.
"""

from __future__ import annotations


class BrokerCallError(Exception):
    """A broker call failed; ``str(error)`` is the tool-result text shown to the model.

    ``status`` is the HTTP status (or the local stand-in, 401/500, for token problems);
    ``None`` means the broker was never reached (network failure), in which case the text
    carries no ``Broker error`` prefix. Messages must never contain a token or API key.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"Broker error {self.status}: {self.message}"


def redact(text: str, *secrets: str) -> str:
    """Replace every occurrence of each non-empty secret; used on text that came from afar."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
