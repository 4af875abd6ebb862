"""The sign-in throttle: parallel guesses, rotating addresses or names, forgiven successes, bounded memory.

Guesses run in real threads against the console over HTTP. The password check is held at a
gate until every request has either reached it or been turned away, so the race that let
parallel guesses past the limit happens every time rather than by luck of scheduling.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from cloud_broker.web.checks import CheckSlots
from cloud_broker.web.sessions import (
    ADDRESS_FAILURES_ALLOWED,
    FAILURE_WINDOW,
    FAILURES_ALLOWED,
    NAME_FAILURES_ALLOWED,
    THROTTLE_KEYS,
    Throttle,
    Throttled,
)
from tests.web.conftest import PASSWORDS, ConsoleUnderTest
from tests.web.gated import Gate, GatedHasher, client_from, gate_checks, sessions_of, sign_in

GUESSES = 30
WRONG = "wrong-password-here"


@pytest.fixture
def hasher(ct: ConsoleUnderTest, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatedHasher]:
    """Every check held at a gate until all GUESSES requests are in, and counted."""
    # A slot for every guess: these tests are about the throttle's race, which the bound on
    # concurrent checks would otherwise hide; that bound has its own tests.
    monkeypatch.setattr(sessions_of(ct), "checks", CheckSlots(slots=GUESSES, queue=0))
    yield gate_checks(ct, Gate(GUESSES), monkeypatch)


def guess_all(clients: list[TestClient], names: list[str], gate: Gate) -> list[int]:
    def guess(client: TestClient, name: str) -> int:
        status = sign_in(client, name, WRONG)
        if status == 429:
            gate.refuse()
        return status

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        return list(pool.map(guess, clients, names))


@pytest.mark.parametrize(("addresses", "limit"), [(1, FAILURES_ALLOWED), (GUESSES, NAME_FAILURES_ALLOWED)],
                         ids=["one-address", "an-address-each"])
def test_parallel_wrong_passwords_are_checked_at_most_the_limit(ct: ConsoleUnderTest, hasher: GatedHasher,
                                                                addresses: int, limit: int) -> None:
    clients = [client_from(ct, f"198.51.100.{i % addresses + 1}") for i in range(GUESSES)]
    statuses = guess_all(clients, ["alice"] * GUESSES, hasher.gate)
    assert hasher.calls == limit
    assert sorted(statuses) == [401] * limit + [429] * (GUESSES - limit)


def test_one_address_rotating_names_is_checked_at_most_the_address_limit(ct: ConsoleUnderTest,
                                                                          hasher: GatedHasher) -> None:
    assert GUESSES > ADDRESS_FAILURES_ALLOWED
    address = "198.51.100.7"
    names = [f"sprayed-{i}" for i in range(GUESSES - 2)] + ["alice", "bob"]  # unknown names cost argon2 too
    statuses = guess_all([client_from(ct, address) for _ in names], names, hasher.gate)
    assert hasher.calls == ADDRESS_FAILURES_ALLOWED
    assert sorted(statuses) == [401] * ADDRESS_FAILURES_ALLOWED + [429] * (GUESSES - ADDRESS_FAILURES_ALLOWED)
    # Even the right password of a name the address never tried is turned away unchecked...
    assert sign_in(client_from(ct, address), "carol", PASSWORDS["carol"]) == 429
    assert hasher.calls == ADDRESS_FAILURES_ALLOWED
    # ...while other addresses, and the address once the window has passed, sign in as usual.
    assert sign_in(client_from(ct, "198.51.100.8"), "carol", PASSWORDS["carol"]) == 303
    ct.clock.offset += FAILURE_WINDOW + timedelta(seconds=1)
    assert sign_in(client_from(ct, address), "carol", PASSWORDS["carol"]) == 303


def test_an_ipv6_host_is_one_address_across_its_slash_64() -> None:
    throttle = Throttle(FixedClock())
    for i in range(ADDRESS_FAILURES_ALLOWED):
        throttle.reserve(f"name-{i}", f"2001:db8:0:1::{i + 1:x}")
    with pytest.raises(Throttled):
        throttle.reserve("another-name", "2001:db8:0:1:ffff::1")
    throttle.reserve("another-name", "2001:db8:0:2::1")  # the next /64 is someone else


def test_a_success_takes_back_only_its_own_count_from_the_address() -> None:
    throttle = Throttle(FixedClock())
    for i in range(ADDRESS_FAILURES_ALLOWED - 1):
        throttle.reserve(f"name-{i}", "office")
    for _ in range(FAILURES_ALLOWED + 1):
        throttle.succeeded(throttle.reserve("alice", "office"))
    throttle.reserve("bob", "office")  # the last failure the address is allowed
    with pytest.raises(Throttled):
        throttle.reserve("carol", "office")


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
    pairs, names, addresses = throttle.keys()
    assert pairs <= THROTTLE_KEYS and names <= THROTTLE_KEYS and addresses <= THROTTLE_KEYS
    throttle.reserve("alice", "elsewhere")
    with pytest.raises(Throttled):
        throttle.reserve("alice", "yet-another-address")


def test_a_flood_of_addresses_does_not_erase_an_address_that_is_guessing() -> None:
    throttle = Throttle(FixedClock())
    for i in range(ADDRESS_FAILURES_ALLOWED - 1):
        throttle.reserve(f"sprayed-{i}", "guesser")
    for i in range(3 * THROTTLE_KEYS):
        throttle.reserve(f"flood-{i}", f"addr-{i}")
    assert throttle.keys()[2] <= THROTTLE_KEYS
    throttle.reserve("one-more", "guesser")
    with pytest.raises(Throttled):
        throttle.reserve("and-another", "guesser")
