"""Console sign-in and server-side sessions.

Passwords are checked against the argon2id hashes of broker.yaml. An unknown name, or an
approver without a password, is checked against a dummy hash so that every attempt costs the
same and timing does not reveal which names exist. The cookie carries 32 random bytes; the
store keeps only their SHA-256, so a copy of the database yields no live session.

Sign-in must not be a way to burn the broker's CPU: the throttle turns an attempt away before
argon2 runs once a name, an address or the pair has failed too often, and ``CheckSlots``
bounds how many checks run at once in the process (see ``checks.py`` for why that also keeps
the agent API's thread pool free).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cloud_broker.config import BrokerConfig
from cloud_broker.service.ports import ConsoleSession, GrantStore
from cloud_broker.web.checks import Busy, CheckSlots

log = logging.getLogger("cloud_broker.console")

COOKIE = "cb_console"
MAX_PASSWORD = 1024
MAX_NAME = 256
# Five failures of one name from one address within five minutes lock that pair out for the rest of it.
FAILURES_ALLOWED = 5
# Twenty failures of one name from any addresses lock the name out: changing address must not
# buy fresh guesses. The price is that a guesser can lock a real approver out for a while.
NAME_FAILURES_ALLOWED = 20
# Twenty failures from one address across any names lock the address out: rotating names must
# not buy fresh guesses either, nor one argon2 check after another. Twenty is what one name may
# absorb from the whole world; people mistype a handful of times, and even a team behind one NAT
# rarely adds up to twenty in five minutes. Behind a reverse proxy every sign-in comes from the
# proxy's address (forwarded headers are not trusted), and this becomes a limit on the console.
ADDRESS_FAILURES_ALLOWED = 20
# An IPv6 host usually holds a whole /64: counting each of its addresses apart would hand it
# billions of fresh allowances.
IPV6_PREFIX = 64
FAILURE_WINDOW = timedelta(minutes=5)
# Bound on each window's memory: a flood of distinct names or addresses must not grow it without end.
THROTTLE_KEYS = 10_000

K = TypeVar("K", bound=Hashable)


class Throttled(Exception):
    """Too many recent failures for this name, from this address, or of this name from this address."""


class FailureWindow(Generic[K]):
    """Failure times per key within ``FAILURE_WINDOW``, holding at most ``THROTTLE_KEYS`` keys.

    Not thread-safe on its own; ``Throttle`` serialises every call. When full of live keys it
    forgets those with the fewest failures, so a flood of one-off keys cannot push out the
    count of a name that is really being guessed at.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._times: dict[K, deque[datetime]] = {}

    def full(self, key: K, now: datetime) -> bool:
        return len(self._recent(key, now)) >= self.limit

    def add(self, key: K, now: datetime) -> None:
        if key not in self._times and len(self._times) >= THROTTLE_KEYS:
            self._make_room(now)
        _expire(self._times.setdefault(key, deque()), now).append(now)

    def take_back(self, key: K, at: datetime) -> None:
        """Remove one failure recorded at ``at``: the attempt turned out not to be one."""
        times = self._times.get(key)
        if times is None:
            return
        if at in times:
            times.remove(at)
        if not times:
            del self._times[key]

    def forget(self, key: K) -> None:
        self._times.pop(key, None)

    def __len__(self) -> int:
        return len(self._times)

    def _recent(self, key: K, now: datetime) -> deque[datetime]:
        """The key's failures still inside the window; looking never adds a key."""
        return _expire(self._times.get(key, deque()), now)

    def _make_room(self, now: datetime) -> None:
        for key in list(self._times):
            if not self._recent(key, now):
                del self._times[key]
        if len(self._times) >= THROTTLE_KEYS:  # still full: forget the half with the fewest failures
            by_count = sorted(self._times, key=lambda k: len(self._times[k]))
            for key in by_count[: THROTTLE_KEYS // 2]:
                del self._times[key]


def _expire(times: deque[datetime], now: datetime) -> deque[datetime]:
    """Drop, oldest first, the failures that have left the window; ``times`` is in time order."""
    cutoff = now - FAILURE_WINDOW
    while times and times[0] <= cutoff:
        times.popleft()
    return times


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt already counted as a failure, until ``Throttle.succeeded`` says otherwise."""

    name: str
    address: str
    at: datetime


class Throttle:
    """Failed sign-ins per (name, address), per name and per address (an IPv6 /64), in memory.

    An attempt is counted as a failure *before* the password is checked, under a lock: the check
    is slow (argon2), and counting only afterwards let any number of parallel guesses past the
    limit. A correct password then takes its count back, and so does an attempt whose password
    was never checked. So argon2 runs at most ``ADDRESS_FAILURES_ALLOWED`` times per address
    and window for wrong passwords, whatever names the address tries.

    Per process, and the first line: ``shared_throttle.SharedThrottle`` counts the same limits
    in the store, so that several broker processes together allow them once.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pairs: FailureWindow[tuple[str, str]] = FailureWindow(FAILURES_ALLOWED)
        self._names: FailureWindow[str] = FailureWindow(NAME_FAILURES_ALLOWED)
        self._addresses: FailureWindow[str] = FailureWindow(ADDRESS_FAILURES_ALLOWED)

    def reserve(self, name: str, address: str) -> Attempt:
        """Count one attempt as failed, or raise Throttled (counting nothing) if a limit is reached."""
        source = address_key(address)
        with self._lock:
            now = self._clock()
            if (self._pairs.full((name, address), now) or self._names.full(name, now)
                    or self._addresses.full(source, now)):
                raise Throttled()
            self._pairs.add((name, address), now)
            self._names.add(name, now)
            self._addresses.add(source, now)
            return Attempt(name=name, address=address, at=now)

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: this address's failures for the name are forgiven. Failures from
        other addresses, and the address's failures with other names, stay counted, so a real
        sign-in does not reset a guesser elsewhere or one sharing the approver's address."""
        with self._lock:
            self._pairs.forget((attempt.name, attempt.address))
            self._names.take_back(attempt.name, attempt.at)
            self._addresses.take_back(address_key(attempt.address), attempt.at)

    def not_checked(self, attempt: Attempt) -> None:
        """The password was never checked (no check slot was free): the attempt was no guess."""
        with self._lock:
            self._pairs.take_back((attempt.name, attempt.address), attempt.at)
            self._names.take_back(attempt.name, attempt.at)
            self._addresses.take_back(address_key(attempt.address), attempt.at)

    def keys(self) -> tuple[int, int, int]:
        """How many (name, address) pairs, names and addresses are remembered: for tests of the memory bound."""
        with self._lock:
            return len(self._pairs), len(self._names), len(self._addresses)


def address_key(address: str) -> str:
    """The unit an address is counted in: itself for IPv4, its /64 for IPv6 (an IPv4-mapped
    IPv6 address counts as the IPv4 one); anything unparseable, such as "unknown", as given."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed)


@dataclass(frozen=True)
class NewSession:
    """A session just created: ``token`` goes into the cookie and is never stored."""

    token: str
    session: ConsoleSession


class Sessions:
    """Sign-in, sign-out and the lookup behind every console request."""

    def __init__(self, config: BrokerConfig, store: GrantStore, clock: Callable[[], datetime],
                 checks: CheckSlots | None = None, throttle_key: bytes | None = None) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        from cloud_broker.web.shared_throttle import SharedThrottle

        # In memory first (cheap, per process), then in the store (shared by every process, and
        # keyed by a hash under ``throttle_key``, which every broker on the store derives alike).
        self.throttle = Throttle(clock)
        self.shared_throttle = SharedThrottle(store, clock, throttle_key or secrets.token_bytes(32))
        self.checks = checks or CheckSlots()

    @property
    def lifetime(self) -> timedelta:
        return timedelta(seconds=self._config.broker.console_session_seconds)

    def sign_in(self, name: str, password: str, address: str) -> NewSession | None:
        """A new session for ``name``, or None. Raises Throttled, or Busy when no check slot
        came free in time; either way argon2 has not run."""
        name = name.strip()[:MAX_NAME]
        attempt = self.throttle.reserve(name, address)
        try:
            self.shared_throttle.reserve(attempt)
        except BaseException:  # throttled, or the store is down (503): this attempt checked nothing
            self.throttle.not_checked(attempt)
            raise
        try:
            with self.checks.slot():
                ok = self._password_ok(name, password[:MAX_PASSWORD])
        except Busy:
            self.throttle.not_checked(attempt)
            self.shared_throttle.not_checked(attempt)
            raise
        if not ok:
            # Not the name: people type passwords into the name field.
            log.info("console sign-in failed from %s", address)
            return None
        self.throttle.succeeded(attempt)
        self.shared_throttle.succeeded(attempt)
        return self.open_session(name, address, "password")

    def open_session(self, approver: str, address: str, method: str) -> NewSession:
        """A session for ``approver``, whose identity ``method`` (a password, single sign-on) has
        just proven; the same kind of session whichever proved it, and logged the same way."""
        log.info("console sign-in of %s by %s from %s", approver, method, address)
        return self._create(approver)

    def find(self, token: str | None) -> ConsoleSession | None:
        """The live session for a cookie value; expired rows are removed on sight, and so are
        those of an approver removed from broker.yaml or left with no way to sign in."""
        if not token or len(token) > 128:
            return None
        digest = _digest(token)
        # Read without the write lock: every console page asks, and pages keep working while
        # the store refuses writes. Removing a dead row needs no lock held across the read.
        with self._store.reading() as uow:
            session = uow.find_console_session(digest)
        if session is None:
            return None
        if session.expires_at <= self._clock() or not self._config.may_sign_in(session.approver):
            with self._store.unit_of_work() as uow:
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
