"""Named leases in the store: one broker process at a time does a piece of work in the cloud.

Some cloud writes are read-modify-write of one document (AWS's inline revocation policy on a
role): two processes writing it at once would lose one of the statements, and with it a
revocation. Whoever holds the lease for that document writes it; a process that dies holding
one loses it when it runs out. A lease is a named counter (the store's cursors, whose moves are
compare-and-swap) holding the moment it ends, in milliseconds; the value also identifies the
holder, so a process whose lease ran out and was taken cannot release its successor's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cloud_broker.service.ports import GrantStore

PREFIX = "lease:"


def acquire(store: GrantStore, name: str, now: datetime, lease: timedelta) -> int | None:
    """A token for the lease ``name`` until ``now + lease``; None while another holds it."""
    key, until = PREFIX + name, _ms(now + lease)
    with store.unit_of_work() as uow:
        held_until = uow.read_cursor(key)
        if held_until is not None and held_until > _ms(now):
            return None
        return until if uow.move_cursor(key, held_until, until) else None


def renew(store: GrantStore, name: str, token: int | None, now: datetime, lease: timedelta) -> int | None:
    """Extend a lease this process holds (or take it, with no token yet); the new token, or None
    when it was lost to another holder meanwhile."""
    if token is None:
        return acquire(store, name, now, lease)
    with store.unit_of_work() as uow:
        until = _ms(now + lease)
        return until if uow.move_cursor(PREFIX + name, token, until) else None


def held(store: GrantStore, name: str, now: datetime) -> bool:
    """Whether someone holds the lease ``name`` at ``now``."""
    with store.reading() as uow:
        until = uow.read_cursor(PREFIX + name)
    return until is not None and until > _ms(now)


def release(store: GrantStore, name: str, token: int) -> None:
    """Give the lease back at once (no-op when it ran out and someone else holds it now). The row
    goes with it, so that leases named per grant do not pile up."""
    with store.unit_of_work() as uow:
        uow.delete_cursor(PREFIX + name, token)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
