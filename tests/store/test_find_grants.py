"""Several grants read in one statement are the same grants as read one by one."""

from __future__ import annotations

import uuid
from pathlib import Path

from cloud_broker.store.sql import SqlStore
from tests.test_store_transactions import _grant


def test_existing_grants_are_found_by_id_and_missing_ones_left_out(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'b.db'}")
    written = [_grant(key=uuid.uuid4().hex) for _ in range(3)]
    with store.unit_of_work() as uow:
        for grant in written:
            uow.insert_grant(grant)
    wanted = {written[0].grant_id, written[2].grant_id, str(uuid.uuid4())}
    with store.unit_of_work() as uow:
        found = uow.find_grants(wanted)
        one_by_one = {g: uow.find_grant(g) for g in wanted}
        assert uow.find_grants(set()) == {}
    assert set(found) == {written[0].grant_id, written[2].grant_id}
    assert found == {g: grant for g, grant in one_by_one.items() if grant is not None}
