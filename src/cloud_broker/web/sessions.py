"""Console sign-in and server-side sessions.

Passwords are checked against the argon2id hashes of broker.yaml. An unknown name, or an
approver without a password, is checked against a dummy hash so that every attempt costs the
same and timing does not reveal which names exist. The cookie carries 32 random bytes; the
store keeps only their SHA-256, so a copy of the database yields no live session.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cloud_broker.config import BrokerConfig
from cloud_broker.service.ports import ConsoleSession, GrantStore

log = logging.getLogger("cloud_broker.console")

COOKIE = "cb_console"
MAX_PASSWORD = 1024
MAX_NAME = 256
# Five failures of one name from one address within five minutes lock that pair out for the rest of it.
FAILURES_ALLOWED = 5
FAILURE_WINDOW = timedelta(minutes=5)
# Bound on the throttle's memory: a flood of distinct names must not grow it without end.
THROTTLE_KEYS = 10_000


class Throttled(Exception):
    """Too many recent failures for this name from this address."""


class Throttle:
    """Failed sign-ins per (name, address), in memory.

    Per process: several broker processes each allow the limit. Good enough to stop online
    guessing; argon2's cost makes each guess slow anyway.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[datetime]] = {}

    def check(self, key: tuple[str, str]) -> None:
        if len(self._recent(key)) >= FAILURES_ALLOWED:
            raise Throttled()

    def failed(self, key: tuple[str, str]) -> None:
        if len(self._failures) >= THROTTLE_KEYS:
            self._prune()
        self._recent(key).append(self._clock())

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        cutoff = self._clock() - FAILURE_WINDOW
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def _prune(self) -> None:
        for key in list(self._failures):
            if not self._recent(key):
                del self._failures[key]
        if len(self._failures) >= THROTTLE_KEYS:  # still full: forget the oldest half
            for key in list(self._failures)[: THROTTLE_KEYS // 2]:
                del self._failures[key]


@dataclass(frozen=True)
class NewSession:
    """A session just created: ``token`` goes into the cookie and is never stored."""

    token: str
    session: ConsoleSession


class Sessions:
    """Sign-in, sign-out and the lookup behind every console request."""

    def __init__(self, config: BrokerConfig, store: GrantStore, clock: Callable[[], datetime]) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self.throttle = Throttle(clock)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(seconds=self._config.broker.console_session_seconds)

    def sign_in(self, name: str, password: str, address: str) -> NewSession | None:
        """A new session for ``name``, or None; raises Throttled before doing any work."""
        name = name.strip()[:MAX_NAME]
        key = (name, address)
        self.throttle.check(key)
        if not self._password_ok(name, password[:MAX_PASSWORD]):
            self.throttle.failed(key)
            # Not the name: people type passwords into the name field.
            log.info("console sign-in failed from %s", address)
            return None
        self.throttle.succeeded(key)
        return self._create(name)

    def find(self, token: str | None) -> ConsoleSession | None:
        """The live session for a cookie value; expired rows are removed on sight."""
        if not token or len(token) > 128:
            return None
        digest = _digest(token)
        with self._store.unit_of_work() as uow:
            session = uow.find_console_session(digest)
            if session is None:
                return None
            if session.expires_at <= self._clock() or not self._may_sign_in(session.approver):
                uow.delete_console_session(digest)
                return None
        return session

    def sign_out(self, token: str | None) -> None:
        if token:
            with self._store.unit_of_work() as uow:
                uow.delete_console_session(_digest(token))

    def _password_ok(self, name: str, password: str) -> bool:
        account = self._config.approver(name)
        stored = account.password_hash if account is not None else None
        try:
            self._hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None

    def _may_sign_in(self, name: str) -> bool:
        """Removing an approver, or their password, from broker.yaml ends their sessions."""
        account = self._config.approver(name)
        return account is not None and account.password_hash is not None

    def _create(self, approver: str) -> NewSession:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = ConsoleSession(session_hash=_digest(token), approver=approver, csrf_token=secrets.token_urlsafe(32),
                                 created_at=now, expires_at=now + self.lifetime)
        with self._store.unit_of_work() as uow:
            uow.put_console_session(session)
        return NewSession(token=token, session=session)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
