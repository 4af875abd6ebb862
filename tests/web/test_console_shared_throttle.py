"""The sign-in limits hold across broker processes: two consoles on one store (each with its own
engine and its own in-memory throttle, as two processes would have) together let a name be
guessed at most the limit's number of times, and the table of failures stays bounded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud_broker.store.tables import sign_in_failures
from cloud_broker.web.sessions import FAILURE_WINDOW, FAILURES_ALLOWED, NAME_FAILURES_ALLOWED
from tests.web.conftest import PASSWORDS, ConsoleUnderTest, console_under_test
from tests.web.gated import client_from, sign_in

pytestmark = pytest.mark.both_stores

WRONG = "wrong-password-here"


@pytest.fixture
def pair(emulator: Any, tmp_path: Path, store_url: str) -> Iterator[tuple[ConsoleUnderTest, ConsoleUnderTest]]:
    """Two broker processes' consoles on one store, with the master key every broker on it shares."""
    key = os.urandom(32)
    both = tuple(console_under_test(emulator, tmp_path, store_url=store_url, master_key=key) for _ in range(2))
    yield both  # type: ignore[misc]
    for one in both:
        one.client.close()


@pytest.fixture
def ct(pair: tuple[ConsoleUnderTest, ConsoleUnderTest]) -> ConsoleUnderTest:
    return pair[0]


@pytest.fixture
def second(pair: tuple[ConsoleUnderTest, ConsoleUnderTest]) -> ConsoleUnderTest:
    return pair[1]


def _rows(ct: ConsoleUnderTest) -> int:
    with ct.broker.deps.store.unit_of_work() as uow:
        return int(uow._c.execute(select(func.count()).select_from(sign_in_failures)).scalar_one())  # type: ignore[attr-defined]


def test_two_processes_together_allow_the_pair_limit_once(ct: ConsoleUnderTest, second: Any) -> None:
    consoles = [client_from(ct, "198.51.100.7"), client_from(second, "198.51.100.7")]
    statuses = [sign_in(consoles[i % 2], "alice", WRONG) for i in range(FAILURES_ALLOWED * 2)]
    assert statuses == [401] * FAILURES_ALLOWED + [429] * FAILURES_ALLOWED
    assert sign_in(consoles[1], "alice", PASSWORDS["alice"]) == 429  # locked out in both, for the window
    assert _rows(ct) == 3 * FAILURES_ALLOWED


def test_a_name_guessed_from_many_addresses_through_both_is_locked_at_the_name_limit(
        ct: ConsoleUnderTest, second: Any) -> None:
    under_tests = (ct, second)
    statuses = [sign_in(client_from(under_tests[i % 2], f"203.0.113.{i + 1}"), "alice", WRONG)
                for i in range(NAME_FAILURES_ALLOWED + 4)]
    assert statuses.count(401) == NAME_FAILURES_ALLOWED and statuses[-4:] == [429] * 4


def test_a_success_forgives_its_pair_in_the_store_too(ct: ConsoleUnderTest, second: Any) -> None:
    for _ in range(FAILURES_ALLOWED - 1):
        assert sign_in(client_from(ct, "198.51.100.9"), "alice", WRONG) == 401
    assert sign_in(client_from(second, "198.51.100.9"), "alice", PASSWORDS["alice"]) in (200, 303)
    for _ in range(FAILURES_ALLOWED - 1):
        assert sign_in(client_from(second, "198.51.100.9"), "alice", WRONG) == 401


def test_no_typed_name_or_address_reaches_the_store(ct: ConsoleUnderTest) -> None:
    typed = "Corr3ct-Horse-Battery!"  # a password typed into the name field
    sign_in(client_from(ct, "198.51.100.77"), typed, WRONG)
    with ct.broker.deps.store.unit_of_work() as uow:
        keys = [row[0] for row in uow._c.execute(select(sign_in_failures.c.key))]  # type: ignore[attr-defined]
    assert len(keys) == 3 and not any(typed in key or "198.51.100.77" in key for key in keys)


def test_failures_leave_the_table_after_the_window(ct: ConsoleUnderTest) -> None:
    for i in range(3):
        sign_in(client_from(ct, f"192.0.2.{i + 1}"), "bob", WRONG)
    assert _rows(ct) == 9
    ct.clock.offset += FAILURE_WINDOW + timedelta(seconds=1)
    sign_in(client_from(ct, "192.0.2.99"), "carol", WRONG)
    assert _rows(ct) == 3  # the old nine pruned, the new attempt's three kept


def test_the_sweeper_removes_failures_nobody_else_would(ct: ConsoleUnderTest) -> None:
    sign_in(client_from(ct, "192.0.2.50"), "bob", WRONG)
    ct.broker.sweeper.sweep()
    assert _rows(ct) == 3  # still inside the window
    ct.clock.offset += timedelta(minutes=11)
    ct.broker.sweeper.sweep()
    assert _rows(ct) == 0
