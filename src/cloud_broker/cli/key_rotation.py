"""Re-sealing every stored secret under the current master key, one page per transaction.

Several broker processes may be running while this runs, and some may still seal with the
previous key: each row is replaced by a compare-and-swap on what was read (key id and
ciphertext), so a row another process deleted (a release) or re-sealed meanwhile is left as it
is. Each page commits with an audit row saying how many rows moved from which key, so the
trail stays exact even if the run stops halfway; a summary row closes the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime

from cloud_broker.service.ports import AuditEvent, SecretRotation
from cloud_broker.vault import SealedSecret, UnknownKey, Vault, VaultError

RESEALED = "keys.resealed"
ROTATED = "keys.rotated"
PAGE_SIZE = 200
# Grant ids named in the report for rows that failed to open: enough to start looking.
_NAMED = 20

Transaction = Callable[[], AbstractContextManager[SecretRotation]]


@dataclass(frozen=True)
class KeyUse:
    """Stored secrets per key id, as seen by a process holding ``vault``'s keys."""

    current: str
    previous: tuple[str, ...]
    rows: Mapping[str, int]

    @property
    def old(self) -> dict[str, int]:
        """Rows under each key id other than the current one: every previous key (0 included)
        and any key id this process does not hold."""
        counts = {key_id: self.rows.get(key_id, 0) for key_id in self.previous}
        return {**counts, **{k: n for k, n in self.rows.items() if k != self.current and k not in counts}}

    @classmethod
    def of(cls, vault: Vault, rows: Mapping[str, int]) -> KeyUse:
        return cls(vault.key_id, vault.previous_key_ids, dict(rows))


@dataclass
class Rotation:
    """What one run did: rows re-sealed and rows left as they were, by their old key id."""

    resealed: Counter[str] = field(default_factory=Counter)
    unknown_key: Counter[str] = field(default_factory=Counter)
    unopenable: list[str] = field(default_factory=list)  # grant ids whose blob failed to open

    @property
    def named_unopenable(self) -> list[str]:
        return self.unopenable[:_NAMED]


def key_use(transaction: Transaction, vault: Vault) -> KeyUse:
    with transaction() as uow:
        return KeyUse.of(vault, uow.count_secrets_by_key())


def rotate(transaction: Transaction, vault: Vault, actor: str, clock: Callable[[], datetime],
           page_size: int = PAGE_SIZE) -> tuple[Rotation, KeyUse]:
    """Re-seal every row not under ``vault``'s current key that ``vault`` can open; return what
    was done and the rows per key id afterwards."""
    rotation, after = Rotation(), ""
    while True:
        with transaction() as uow:
            page = uow.list_secrets_not_under(vault.key_id, after=after, limit=page_size)
            if not page:
                break
            moved = _reseal_page(uow, vault, page, rotation)
            if moved:
                uow.append_audit(AuditEvent(RESEALED, actor, clock(), detail={
                    "rows": sum(moved.values()), "from_key_ids": dict(moved), "to_key_id": vault.key_id}))
        rotation.resealed.update(moved)
        after = page[-1][0]
    with transaction() as uow:
        use = KeyUse.of(vault, uow.count_secrets_by_key())
        uow.append_audit(AuditEvent(ROTATED, actor, clock(), detail={
            "rows_resealed": sum(rotation.resealed.values()), "from_key_ids": dict(rotation.resealed),
            "to_key_id": vault.key_id, "rows_left_by_key_id": use.old}))
    return rotation, use


def _reseal_page(uow: SecretRotation, vault: Vault, page: list[tuple[str, SealedSecret]],
                 rotation: Rotation) -> Counter[str]:
    moved: Counter[str] = Counter()
    for grant_id, sealed in page:
        try:
            fresh = vault.reseal(grant_id, sealed)
        except UnknownKey:
            rotation.unknown_key[sealed.key_id] += 1
            continue
        except VaultError:
            rotation.unopenable.append(grant_id)
            continue
        if uow.reseal_secret(grant_id, sealed, fresh):
            moved[sealed.key_id] += 1
    return moved
