"""Which HTTP request the current code runs for, so the rows it writes can name it.

The API's middleware binds a request id for the duration of one request; the audit helper
(``service.deps.audit``) copies it into every row written meanwhile. An operator holding the
id from a client's error body or an access log line finds the rows that request wrote. Code
run outside a request (the sweeper, the job runner, a CLI command) has no id: its rows carry
none. A context variable rather than a parameter: it crosses threads with the request (the
framework copies the context into its worker threads) without widening every use-case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_REQUEST_ID: ContextVar[str | None] = ContextVar("cloud_broker_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside one."""
    return _REQUEST_ID.get()


@contextmanager
def bound_request_id(request_id: str) -> Iterator[None]:
    """Name ``request_id`` as the current request until the block ends."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)
