"""The sign-in throttle: parallel guesses, rotating addresses, forgiven successes, bounded memory.

Guesses run in real threads against the console over HTTP. The password check is held at a
gate until every request has either reached it or been turned away, so the race that let
parallel guesses past the limit happens every time rather than by luck of scheduling.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from cloud_broker.web.sessions import (
    FAILURE_WINDOW,
    FAILURES_ALLOWED,
    NAME_FAILURES_ALLOWED,
    THROTTLE_KEYS,
    Sessions,
    Throttle,
    Throttled,
)
from tests.web.conftest import PASSWORDS, ConsoleUnderTest

GUESSES = 30
WRONG = "wrong-password-here"
GATE_SECONDS = 60  # a hang guard, not a timing assertion


class Gate:
    """Holds every password check until ``expected`` requests have been checked or refused."""

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._changed = threading.Condition()
        self.checked = 0
        self.refused = 0

    def check(self) -> None:
        with self._changed:
            self.checked += 1
            self._changed.notify_all()
            self._changed.wait_for(self._all_in, timeout=GATE_SECONDS)

    def refuse(self) -> None:
        with self._changed:
            self.refused += 1
            self._changed.notify_all()

    def _all_in(self) -> bool:
        return self.checked + self.refused >= self._expected


class GatedHasher:
    """The real hasher, with every verification passing through ``gate`` first."""

    def __init__(self, real: PasswordHasher, gate: Gate) -> None:
        self._real = real
        self._gate = gate

    def verify(self, hash: str, password: str) -> bool:
        self._gate.check()
        return self._real.verify(hash, password)


def sessions_of(ct: ConsoleUnderTest) -> Sessions:
    mount = next(r for r in ct.app.routes if isinstance(r, Mount) and r.path == "/console")
    sessions: Sessions = cast(FastAPI, mount.app).state.console.sessions
    return sessions


def client_from(ct: ConsoleUnderTest, address: str) -> TestClient:
    return TestClient(ct.app, raise_server_exceptions=False, client=(address, 50000))


def sign_in(client: TestClient, name: str, password: str) -> int:
    reply = client.post("/console/login", data={"name": name, "password": password}, follow_redirects=False)
    return reply.status_code


@pytest.fixture
def gate(ct: ConsoleUnderTest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    sessions = sessions_of(ct)
    opened = Gate(GUESSES)
    monkeypatch.setattr(sessions, "_hasher", GatedHasher(sessions._hasher, opened))
    yield opened


@pytest.mark.parametrize(("addresses", "limit"), [(1, FAILURES_ALLOWED), (GUESSES, NAME_FAILURES_ALLOWED)],
                         ids=["one-address", "an-address-each"])
def test_parallel_wrong_passwords_are_checked_at_most_the_limit(ct: ConsoleUnderTest, gate: Gate,
                                                                addresses: int, limit: int) -> None:
    clients = [client_from(ct, f"198.51.100.{i % addresses + 1}") for i in range(GUESSES)]

    def guess(client: TestClient) -> int:
        status = sign_in(client, "alice", WRONG)
        if status == 429:
            gate.refuse()
        return status

    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        statuses = list(pool.map(guess, clients))
    assert gate.checked == limit
    assert sorted(statuses) == [401] * limit + [429] * (GUESSES - limit)


def test_changing_address_does_not_buy_more_guesses(ct: ConsoleUnderTest) -> None:
    for i in range(NAME_FAILURES_ALLOWED):
        assert sign_in(client_from(ct, f"203.0.113.{i // FAILURES_ALLOWED + 1}"), "alice", WRONG) == 401
    fresh = client_from(ct, "192.0.2.77")
    assert sign_in(fresh, "alice", PASSWORDS["alice"]) == 429
    refused = fresh.post("/console/login", data={"name": "alice", "password": WRONG}, follow_redirects=False)
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert sign_in(fresh, "bob", PASSWORDS["bob"]) == 303
    ct.clock.offset += FAILURE_WINDOW + timedelta(seconds=1)
    assert sign_in(fresh, "alice", PASSWORDS["alice"]) == 303


class FixedClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_correct_password_is_not_counted_against_the_name() -> None:
    throttle = Throttle(FixedClock())
    for i in range(NAME_FAILURES_ALLOWED - 1):
        throttle.reserve("alice", f"addr-{i // FAILURES_ALLOWED}")
    for _ in range(FAILURES_ALLOWED + 1):
        throttle.succeeded(throttle.reserve("alice", "home"))
    throttle.reserve("alice", "home")  # the last failure the name is allowed
    with pytest.raises(Throttled):
        throttle.reserve("alice", "home")


def test_a_refused_attempt_does_not_extend_the_lockout() -> None:
    clock = FixedClock()
    throttle = Throttle(clock)
    for _ in range(FAILURES_ALLOWED):
        throttle.reserve("alice", "addr")
    clock.now += FAILURE_WINDOW - timedelta(seconds=1)
    with pytest.raises(Throttled):
        throttle.reserve("alice", "addr")
    clock.now += timedelta(seconds=1)
    throttle.reserve("alice", "addr")


def test_memory_stays_bounded_and_a_flood_does_not_erase_a_guessed_name() -> None:
    throttle = Throttle(FixedClock())
    for i in range(NAME_FAILURES_ALLOWED - 1):
        throttle.reserve("alice", f"guesser-{i // FAILURES_ALLOWED}")
    for i in range(3 * THROTTLE_KEYS):
        throttle.reserve(f"flood-{i}", f"addr-{i}")
    pairs, names = throttle.keys()
    assert pairs <= THROTTLE_KEYS and names <= THROTTLE_KEYS
    throttle.reserve("alice", "elsewhere")
    with pytest.raises(Throttled):
        throttle.reserve("alice", "yet-another-address")
