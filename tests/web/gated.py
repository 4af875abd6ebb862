"""Holding console password checks at a gate, and counting them, for tests that race sign-ins.

A gate holds every argon2 verification until the test has seen what it needs (every request
checked or turned away, or an explicit ``open``), so races happen every time rather than by
luck of scheduling. The hasher wrapper counts verifications and how many ran at once: tests
bound work with these counters, never with wall time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import cast

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from cloud_broker.web.sessions import Sessions
from tests.web.conftest import ConsoleUnderTest

GATE_SECONDS = 60  # a hang guard, not a timing assertion


class Gate:
    """Holds every password check until ``expected`` requests have been checked or refused
    (never, when ``expected`` is None), or until ``open`` is called."""

    def __init__(self, expected: int | None) -> None:
        self._expected = expected
        self._changed = threading.Condition()
        self.checked = 0
        self.refused = 0
        self.opened = False

    def check(self) -> None:
        with self._changed:
            self.checked += 1
            self._changed.notify_all()
            self._changed.wait_for(self._open, timeout=GATE_SECONDS)

    def refuse(self) -> None:
        with self._changed:
            self.refused += 1
            self._changed.notify_all()

    def open(self) -> None:
        with self._changed:
            self.opened = True
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float = GATE_SECONDS) -> bool:
        """Wait (a hang guard) until ``condition`` holds; it is re-tested on every check or refusal."""
        with self._changed:
            return self._changed.wait_for(condition, timeout=timeout)

    def notify(self) -> None:
        """Re-test the conditions waited on: something outside the gate has changed."""
        with self._changed:
            self._changed.notify_all()

    def _open(self) -> bool:
        return self.opened or (self._expected is not None and self.checked + self.refused >= self._expected)


class GatedHasher:
    """The real hasher, with every verification passing through ``gate`` first, counted."""

    def __init__(self, real: PasswordHasher, gate: Gate) -> None:
        self._real = real
        self.gate = gate
        self._lock = threading.Lock()
        self.calls = 0
        self.running = 0
        self.peak = 0

    def verify(self, hash: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            self.gate.check()
            return self._real.verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


def sessions_of(ct: ConsoleUnderTest) -> Sessions:
    mount = next(r for r in ct.app.routes if isinstance(r, Mount) and r.path == "/console")
    sessions: Sessions = cast(FastAPI, mount.app).state.console.sessions
    return sessions


def gate_checks(ct: ConsoleUnderTest, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> GatedHasher:
    """Route the console's password checks through ``gate``, counted."""
    sessions = sessions_of(ct)
    hasher = GatedHasher(sessions._hasher, gate)
    monkeypatch.setattr(sessions, "_hasher", hasher)
    return hasher


def client_from(ct: ConsoleUnderTest, address: str) -> TestClient:
    return TestClient(ct.app, raise_server_exceptions=False, client=(address, 50000))


def sign_in(client: TestClient, name: str, password: str) -> int:
    reply = client.post("/console/login", data={"name": name, "password": password}, follow_redirects=False)
    return reply.status_code
