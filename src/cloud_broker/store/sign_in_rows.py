"""Store verbs for the console's shared sign-in throttle (``web.shared_throttle``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from cloud_broker.store.tables import sign_in_failures

# Expired rows are removed a batch at a time, so one sign-in never pays for a long backlog.
PRUNE_BATCH = 500


class SignInRows:
    """Mixed into the unit of work; ``_c`` is its connection."""

    _c: Connection

    def count_sign_in_failures(self, keys: Sequence[str], since: datetime) -> dict[str, int]:
        query = (select(sign_in_failures.c.key, func.count())
                 .where(sign_in_failures.c.key.in_(list(keys)), sign_in_failures.c.at > since)
                 .group_by(sign_in_failures.c.key))
        return {str(key): int(count) for key, count in self._c.execute(query)}

    def add_sign_in_failures(self, keys: Sequence[str], at: datetime) -> None:
        self._c.execute(insert(sign_in_failures), [{"key": key, "at": at} for key in keys])

    def take_back_sign_in_failure(self, key: str, at: datetime) -> None:
        """Remove one failure of ``key`` recorded at ``at`` (the attempt turned out not to be one)."""
        one = (select(sign_in_failures.c.id).where(sign_in_failures.c.key == key, sign_in_failures.c.at == at)
               .limit(1).scalar_subquery())
        self._c.execute(sign_in_failures.delete().where(sign_in_failures.c.id == one))

    def forget_sign_in_failures(self, key: str) -> None:
        self._c.execute(sign_in_failures.delete().where(sign_in_failures.c.key == key))

    def prune_sign_in_failures(self, before: datetime) -> None:
        expired = (select(sign_in_failures.c.id).where(sign_in_failures.c.at <= before)
                   .order_by(sign_in_failures.c.at).limit(PRUNE_BATCH))
        self._c.execute(sign_in_failures.delete().where(sign_in_failures.c.id.in_(expired)))
