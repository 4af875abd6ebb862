"""The bound on concurrent password checks: sign-ins beyond it are refused without argon2, and
a console whose checks are all taken leaves the agent API of the same process answering.

Checks are held at a gate, so "all slots taken" is a fact of the test rather than a hope about
scheduling; the counts come from a wrapped hasher, never from the clock.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import anyio
import anyio.to_thread
import httpx
import pytest

from cloud_broker.web.checks import Busy, CheckSlots
from cloud_broker.web.login import BUSY
from tests.web.conftest import ConsoleUnderTest, LiveServer
from tests.web.gated import GATE_SECONDS, Gate, client_from, gate_checks, sessions_of

WRONG = "wrong-password-here"
SLOTS = 3
QUEUE = 4
SIGN_INS = 20
# More sign-ins at once than anyio has worker threads (40): without a bound, held checks alone
# would take every thread the agent API needs.
FLOOD = 50
HANG_GUARD = 20.0  # seconds; only ever reached when the code under test is broken


def test_sign_ins_beyond_the_bound_get_429_and_argon2_never_runs_more_at_once(
        ct: ConsoleUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = sessions_of(ct)
    monkeypatch.setattr(sessions, "checks", CheckSlots(slots=SLOTS, queue=QUEUE, wait=timedelta(milliseconds=100)))
    gate = Gate(SIGN_INS)
    hasher = gate_checks(ct, gate, monkeypatch)

    def attempt(i: int) -> tuple[int, str, str | None]:
        # A name and an address each, so no throttle is what turns anyone away.
        reply = client_from(ct, f"198.51.100.{i + 1}").post(
            "/console/login", data={"name": f"name-{i}", "password": WRONG}, follow_redirects=False)
        if reply.status_code == 429:
            gate.refuse()
        return reply.status_code, reply.text, reply.headers.get("retry-after")

    with ThreadPoolExecutor(max_workers=SIGN_INS) as pool:
        replies = list(pool.map(attempt, range(SIGN_INS)))

    assert hasher.peak == SLOTS and hasher.calls == SLOTS
    assert sorted(status for status, _, _ in replies) == [401] * SLOTS + [429] * (SIGN_INS - SLOTS)
    busy = [(text, retry_after) for status, text, retry_after in replies if status == 429]
    assert all(BUSY in text and retry_after == "1" for text, retry_after in busy)
    # A refusal for want of a slot is no failed guess: only the checked attempts are remembered.
    assert sessions.throttle.keys() == (SLOTS, SLOTS, SLOTS)


def test_a_waiter_gets_a_freed_slot_and_sign_ins_beyond_the_queue_are_refused_at_once() -> None:
    checks = CheckSlots(slots=1, queue=1, wait=timedelta(seconds=GATE_SECONDS))
    release, holding = threading.Event(), threading.Event()
    waiter_ran = threading.Event()

    def hold() -> None:
        with checks.slot():
            holding.set()
            release.wait(GATE_SECONDS)

    def wait_for_slot() -> None:
        with checks.slot():
            waiter_ran.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(GATE_SECONDS)
    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    for _ in range(100_000):  # until the waiter is queued; a count, not a clock
        if checks.waiting == 1:
            break
        time.sleep(0.001)
    assert checks.waiting == 1
    with pytest.raises(Busy):  # the queue is full: refused without waiting for the long wait
        with checks.slot():
            pass
    assert checks.waiting == 1 and not waiter_ran.is_set()  # the waiter was still waiting meanwhile
    release.set()
    holder.join(GATE_SECONDS)
    waiter.join(GATE_SECONDS)
    assert waiter_ran.is_set() and checks.running == 0


def test_the_agent_api_answers_while_the_console_checks_are_all_taken(
        live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ct = live.ct
    checks = sessions_of(ct).checks  # the bound the console was built with, not one the test chose
    pool_threads = _default_worker_threads()
    assert checks.slots + checks.queue < pool_threads // 2
    gate = Gate(None)
    hasher = gate_checks(ct, gate, monkeypatch)
    answered: list[int] = []

    def attempt(i: int) -> int:
        with httpx.Client(base_url=live.url, timeout=GATE_SECONDS * 2) as client:
            reply = client.post("/console/login", data={"name": f"name-{i}", "password": WRONG})
        answered.append(reply.status_code)  # list.append is atomic
        gate.notify()
        return reply.status_code

    with ThreadPoolExecutor(max_workers=FLOOD) as pool:
        flood = [pool.submit(attempt, i) for i in range(FLOOD)]
        # Every sign-in is either held in a check or answered: the console is saturated.
        saturated = gate.wait_until(lambda: gate.checked + len(answered) >= FLOOD, timeout=HANG_GUARD)
        agent = pool.submit(_inventory, live)
        done = threading.Event()
        agent.add_done_callback(lambda _: done.set())
        done.wait(HANG_GUARD)
        held_when_answered = agent.done() and hasher.running == hasher.calls and not gate.opened
        gate.open()
        statuses = sorted(f.result() for f in flood)
        agent_status = agent.result()

    assert saturated and held_when_answered and agent_status == 200
    assert 1 <= hasher.peak <= checks.slots and hasher.calls == hasher.peak
    assert statuses == [401] * hasher.calls + [429] * (FLOOD - hasher.calls)


def _inventory(live: LiveServer) -> int:
    """An agent's first call, through the same app and the same worker threads as the console."""
    token = live.ct.tokens.issue("host-a")
    with httpx.Client(base_url=live.url, timeout=GATE_SECONDS * 2) as client:
        reply = client.get("/aws/inventory", params={"agent_id": live.ct.agent_id},
                           headers={"Authorization": f"Bearer {token}"})
    return reply.status_code


def _default_worker_threads() -> int:
    """anyio's default worker-thread count, read on a thread of its own: the browser tests'
    Playwright session keeps an event loop running on the main thread."""
    found: list[int] = []

    async def limit() -> None:
        found.append(int(anyio.to_thread.current_default_thread_limiter().total_tokens))

    reader = threading.Thread(target=anyio.run, args=(limit,))
    reader.start()
    reader.join(GATE_SECONDS)
    return found[0]
