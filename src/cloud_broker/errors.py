"""One exception tree for the whole broker.

    BrokerError                      base; ``status`` and ``code`` travel to the wire
    ├── InvalidInput       400       the caller sent something malformed
    ├── Unauthenticated    401       missing, forged or expired credentials of the caller
    ├── Forbidden          403       authenticated but not allowed (e.g. host acting for a foreign agent)
    ├── NotFound           404       unknown enrolment, agent or grant (also: someone else's grant)
    ├── Conflict           409       the grant is in a state that forbids the call (released, not active)
    ├── Gone               410       the grant has expired
    ├── TooManyRequests    429       a bound on what one caller may hold open (e.g. pending grants)
    ├── ConfigError                  broker.yaml is invalid (never reaches HTTP)
    ├── SchemaMismatch               the store's schema is not this code's (never reaches HTTP)
    ├── ProviderError      502       the cloud refused or failed; message is safe to show
    └── Unavailable        503       the store cannot serve now (or record what happened); retry later

Messages are shown to the model verbatim, so they must never contain a secret and
should spell out the error code (the published client shows only the ``error`` string).
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every error the broker raises on purpose."""

    status: int = 500
    code: str = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def text(self) -> str:
        """The message with its code in front: what the model and the operator read."""
        return f"{self.code}: {self.message}"


class InvalidInput(BrokerError):
    status = 400
    code = "INVALID_INPUT"


class Unauthenticated(BrokerError):
    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(BrokerError):
    status = 403
    code = "FORBIDDEN"


class NotFound(BrokerError):
    status = 404
    code = "NOT_FOUND"


class Conflict(BrokerError):
    status = 409
    code = "CONFLICT"


class Gone(BrokerError):
    status = 410
    code = "GONE"


class TooManyRequests(BrokerError):
    """The caller holds as much as it may; waiting, or giving something back, makes room."""

    status = 429
    code = "TOO_MANY_REQUESTS"


class ConfigError(BrokerError):
    """Raised with every problem found, each already carrying its location."""

    code = "CONFIG_INVALID"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(problems))
        self.problems = problems


class SchemaMismatch(BrokerError):
    """The database's schema revision is not the one this code was written for; the message
    says which command brings them together."""

    code = "SCHEMA_MISMATCH"


class ProviderError(BrokerError):
    """The cloud provider failed; ``retryable`` tells the service whether backoff may help, and
    ``throttled`` that the cloud refused the call's rate (the metrics count those apart)."""

    status = 502
    code = "PROVIDER_ERROR"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False,
                 throttled: bool = False) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.throttled = throttled


class Unavailable(BrokerError):
    """The store cannot serve now (unreachable, read-only, full, busy) or refused a write the
    broker needed; nothing was handed out, and a retry after ``retry_after_seconds`` may
    succeed. ``grant_id`` names the grant concerned, when there is one, so that its caller can
    follow it up."""

    status = 503
    code = "STORE_UNAVAILABLE"
    retry_after_seconds = 5

    def __init__(self, message: str, *, grant_id: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.grant_id = grant_id
