"""The project's service accounts and whether each is disabled, as IAM keeps them.

Disabling is Google's one way to cut off access tokens already issued: IAM's
``projects.serviceAccounts.disable`` documents that "existing access tokens for the service
account are rejected, and requests for new access tokens will fail", and ``enable`` that
"after you re-enable the service account, its existing access tokens will be accepted".
So the state is looked up whenever a token is used (:mod:`~cloud_broker.sandbox.gcp.tokens`)
rather than written into the tokens: re-enabling brings back every token that has not
expired, as at Google. Both methods have no effect on an account already in that state.

Narrower than Google: accounts are named by email only (no unique id), they cannot be
created, deleted or undeleted through the API, and no account is ever disabled "by other
means" (Google may disable a compromised account; ``enable`` then cannot undo it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class ServiceAccounts:
    """The emails of the project's service accounts and which are disabled. Thread-safe."""

    def __init__(self, emails: Iterable[str] = ()) -> None:
        self._emails: set[str] = set(emails)
        self._disabled: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *emails: str) -> None:
        with self._lock:
            self._emails.update(emails)

    def __contains__(self, email: object) -> bool:
        with self._lock:
            return email in self._emails

    def is_disabled(self, email: str) -> bool:
        """Whether ``email`` is a disabled service account (any other principal: False)."""
        with self._lock:
            return email in self._disabled

    def set_disabled(self, email: str, disabled: bool) -> None:
        """Disable or enable an existing account; either is a no-op when already so."""
        with self._lock:
            if email not in self._emails:
                raise KeyError(email)
            if disabled:
                self._disabled.add(email)
            else:
                self._disabled.discard(email)
