"""The SQL grant store (SQLite by default, PostgreSQL for several broker processes)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from cloud_broker.domain.grants import Grant, GrantStatus
from cloud_broker.domain.scope import document
from cloud_broker.errors import NotFound, SchemaMismatch
from cloud_broker.service.ports import AuditEvent, DuplicateRequest, GrantFilter, OpenPending
from cloud_broker.store.audit_watch import CHANNEL as AUDIT_CHANNEL
from cloud_broker.store.audit_watch import AuditWatch, notify_payload
from cloud_broker.store.engine import create_store_engine, mark_read_only, rows_written
from cloud_broker.store.faults import as_unavailable
from cloud_broker.store.outbox_rows import OutboxRows
from cloud_broker.store.queue_rows import QueueRows
from cloud_broker.store.sign_in_rows import SignInRows
from cloud_broker.store.tables import audit_events, grant_secrets, grants, json_list, row_of
from cloud_broker.vault import SealedSecret

# An arbitrary, fixed key for PostgreSQL's advisory lock that orders audit appends.
AUDIT_ORDER_LOCK = 7_420_311
# Written as a literal, not a bound parameter, so that SQLite matches the partial indexes
# declared ``WHERE status = 'pending'``.
_PENDING: ColumnElement[str] = literal_column("'pending'")
# The statements of every grant request, built once with their values bound at execution:
# ``insert(…).values(**row)`` built a new statement, and computed its cache key, on each call,
# which cost more than running it. (``w_`` names: SET takes the columns' own names.)
_INSERT_GRANT = insert(grants)
_UPDATE_GRANT = (update(grants).where(grants.c.grant_id == bindparam("w_grant_id"),
                                      grants.c.status == bindparam("w_status"))
                 .values(revision=grants.c.revision + 1))
_UPDATE_GRANT_AT_REVISION = _UPDATE_GRANT.where(grants.c.revision == bindparam("w_revision"))
_FIND_GRANT = select(grants).where(grants.c.grant_id == bindparam("grant_id"))
_FIND_GRANTS = select(grants).where(grants.c.grant_id.in_(bindparam("grant_ids", expanding=True)))
_RECENT_REQUESTS = select(func.count()).where(grants.c.agent_id == bindparam("agent_id"),
                                              grants.c.created_at > bindparam("since"))
_INSERT_SECRET = insert(grant_secrets)
_INSERT_AUDIT = insert(audit_events)
_AUDIT_COLUMNS = [column for column in audit_events.c if column.name != "seq"]
# PostgreSQL's append: the lock is taken in a subquery, which PostgreSQL runs (a volatile
# function keeps it from being flattened into the outer query) before the outer row is formed,
# so before the row's seq is drawn from its sequence: seq order is commit order.
_AUDIT_ORDER = select(func.pg_advisory_xact_lock(AUDIT_ORDER_LOCK).label("locked")).subquery("audit_order")
_APPEND_AUDIT_PG = (
    insert(audit_events)
    .from_select(_AUDIT_COLUMNS,
                 select(*(bindparam(c.name, type_=c.type) for c in _AUDIT_COLUMNS)).select_from(_AUDIT_ORDER))
    .returning(audit_events.c.seq, func.pg_notify(AUDIT_CHANNEL, bindparam("notify_payload", type_=String)))
)


class SqlStore:
    """Hands out units of work over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> SqlStore:
        """The store at ``url``; an empty database gets the newest schema (unless ``create`` is
        false: a one-shot command on a mistyped --db must not make a new, empty store and report
        on it), a database at any other revision than this code's is refused (``store.schema``)."""
        from cloud_broker.store.schema import require_current

        parsed = make_url(url)
        if not create and parsed.get_backend_name() == "sqlite" and not _sqlite_file_exists(parsed.database):
            raise SchemaMismatch(f"there is no cloud-broker store at {url}: check --db, CLOUD_BROKER_DB or "
                                 "--state-dir (only `cloud-broker serve`, the embedded `mcp` and `db upgrade` create one)")
        engine = create_store_engine(url)
        try:
            require_current(engine, create=create)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlUnitOfWork]:
        """A transaction that may write: on SQLite it holds the write lock from its start."""
        with self._transaction(read_only=False) as uow:
            yield uow

    @contextmanager
    def reading(self) -> Iterator[SqlUnitOfWork]:
        """A transaction that only reads: it takes no write lock, so it neither waits for a
        writer nor holds one up, and it still reads while the store refuses writes (files
        read-only, disk full). A write inside it is refused and rolled back."""
        with self._transaction(read_only=True) as uow:
            yield uow

    @contextmanager
    def _transaction(self, *, read_only: bool) -> Iterator[SqlUnitOfWork]:
        # The one place where a store fault becomes ``Unavailable``: connecting, beginning, every
        # statement of the caller's block and the commit all run inside it.
        with as_unavailable(), self.engine.connect() as connection:
            if read_only:
                mark_read_only(connection)
            with connection.begin():
                before = rows_written(connection) if read_only else 0
                yield SqlUnitOfWork(connection)
                if read_only and rows_written(connection) != before:
                    raise WriteWhileReading("a read-only unit of work wrote rows; they were rolled back")

    def audit_watch(self) -> AuditWatch:
        """A waiter for new audit rows (LISTEN/NOTIFY on PostgreSQL); see ``store.audit_watch``."""
        return AuditWatch(self.engine)


def _sqlite_file_exists(database: str | None) -> bool:
    return database in (None, "", ":memory:") or Path(database).exists()


class WriteWhileReading(RuntimeError):
    """Code inside ``SqlStore.reading`` wrote: a bug, refused as such (PostgreSQL refuses it itself)."""


class SqlUnitOfWork(OutboxRows, QueueRows, SignInRows):
    """The store's verbs inside one transaction; see ``service.ports.UnitOfWork``."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert_grant(self, grant: Grant) -> None:
        if grant.request_key is None:  # nothing to tell apart from another failure: no savepoint
            self._c.execute(_INSERT_GRANT, _grant_row(grant))
            return
        try:
            with self._c.begin_nested():
                self._c.execute(_INSERT_GRANT, _grant_row(grant))
        except IntegrityError as exc:
            if grant.request_key is None:
                raise
            raise DuplicateRequest(grant.request_key) from exc

    def update_grant(self, grant: Grant, *, expected: GrantStatus, revision: int | None = None) -> bool:
        """``revision``, when given, must also still match: the writer saw the latest version."""
        row = {**_grant_row(grant), "w_grant_id": grant.grant_id, "w_status": expected.value}
        if revision is None:
            return self._c.execute(_UPDATE_GRANT, row).rowcount == 1
        return self._c.execute(_UPDATE_GRANT_AT_REVISION, {**row, "w_revision": revision}).rowcount == 1

    def get_grant(self, grant_id: str) -> Grant:
        grant = self.find_grant(grant_id)
        if grant is None:
            raise NotFound(f"grant {grant_id} not found", code="GRANT_NOT_FOUND")
        return grant

    def find_grant(self, grant_id: str) -> Grant | None:
        row = self._c.execute(_FIND_GRANT, {"grant_id": grant_id}).mappings().first()
        return _grant_from_row(row) if row else None

    def find_grants(self, grant_ids: Collection[str]) -> dict[str, Grant]:
        if not grant_ids:
            return {}
        rows = self._c.execute(_FIND_GRANTS, {"grant_ids": list(grant_ids)}).mappings()
        return {grant.grant_id: grant for grant in map(_grant_from_row, rows)}

    def list_grants(self, *, statuses: tuple[GrantStatus, ...] = (), limit: int = 100) -> list[Grant]:
        query = select(grants).order_by(grants.c.created_at.desc()).limit(limit)
        if statuses:
            query = query.where(grants.c.status.in_([s.value for s in statuses]))
        return [_grant_from_row(r) for r in self._c.execute(query).mappings()]

    def search_grants(self, where: GrantFilter) -> list[Grant]:
        order = grants.c.created_at.asc() if where.oldest_first else grants.c.created_at.desc()
        if where.each_agent_in_turn:
            return self._search_each_agent_in_turn(where, order)
        query = _filtered(select(grants).order_by(order).limit(where.limit), where)
        return [_grant_from_row(r) for r in self._c.execute(query).mappings()]

    def _search_each_agent_in_turn(self, where: GrantFilter, order: Any) -> list[Grant]:
        """Ranks rows within each agent and sorts by that rank first (a window function, which
        SQLite has had since 3.25 and PostgreSQL long before)."""
        turn = func.row_number().over(partition_by=grants.c.agent_id, order_by=order).label("agent_turn")
        ranked = _filtered(select(grants, turn), where).subquery()
        within = ranked.c.created_at.asc() if where.oldest_first else ranked.c.created_at.desc()
        query = select(ranked).order_by(ranked.c.agent_turn, within).limit(where.limit)
        rows = self._c.execute(query).mappings()
        return [_grant_from_row({k: v for k, v in r.items() if k != "agent_turn"}) for r in rows]

    def find_pending_duplicate(self, request_key: str) -> Grant | None:
        query = select(grants).where(grants.c.request_key == request_key, grants.c.status == GrantStatus.PENDING.value)
        row = self._c.execute(query).mappings().first()
        return _grant_from_row(row) if row else None

    def repeated_since(self, grant_id: str, since: datetime) -> bool:
        query = (select(audit_events.c.seq).where(audit_events.c.grant_id == grant_id,
                                                  audit_events.c.event == "grant.request_repeated",
                                                  audit_events.c.at > since).limit(1))
        return self._c.execute(query).first() is not None

    def count_open_pending(self, agent_id: str, run_id: str, now: datetime) -> OpenPending:
        """Exact: on SQLite no other writer runs between this count and the caller's insert
        (``BEGIN IMMEDIATE``); on PostgreSQL (READ COMMITTED) the agent's lock makes another
        broker's request of the same agent wait until this transaction ends."""
        self.serialize("agent", agent_id)
        in_run = func.coalesce(func.sum(case((grants.c.run_id == run_id, 1), else_=0)), 0)
        query = select(func.count(), in_run).where(
            grants.c.agent_id == agent_id,
            grants.c.status == _PENDING,
            or_(grants.c.pending_expires_at.is_(None), grants.c.pending_expires_at > now),
        )
        agent, run = self._c.execute(query).one()
        return OpenPending(agent=int(agent), run=int(run))


    def count_recent_requests(self, agent_id: str, since: datetime) -> int:
        """Exact under the agent's lock, as ``count_open_pending``."""
        self.serialize("agent", agent_id)
        return int(self._c.execute(_RECENT_REQUESTS, {"agent_id": agent_id, "since": since}).scalar_one())

    def list_due_for_expiry(self, now: datetime) -> list[Grant]:
        query = select(grants).where(
            or_(
                (grants.c.status == GrantStatus.ACTIVE.value) & (grants.c.expires_at <= now),
                (grants.c.status == GrantStatus.PENDING.value) & (grants.c.pending_expires_at <= now),
            )
        )
        return [_grant_from_row(r) for r in self._c.execute(query).mappings()]

    def put_secret(self, grant_id: str, sealed: SealedSecret) -> None:
        self._c.execute(_INSERT_SECRET, {"grant_id": grant_id, "key_id": sealed.key_id, "blob": sealed.blob})

    def find_secret(self, grant_id: str) -> SealedSecret | None:
        row = self._c.execute(select(grant_secrets).where(grant_secrets.c.grant_id == grant_id)).mappings().first()
        return SealedSecret(key_id=row["key_id"], blob=bytes(row["blob"])) if row else None

    def delete_secret(self, grant_id: str) -> None:
        self._c.execute(grant_secrets.delete().where(grant_secrets.c.grant_id == grant_id))

    def append_audit(self, event: AuditEvent) -> int:
        """On PostgreSQL a sequence number is taken at insert, not at commit: without the
        transaction-scoped lock a reader could see seq 11 before seq 10 commits and move its
        cursor past 10 for good. With it, audit rows commit in seq order, as on SQLite."""
        row = row_of(event)
        row.pop("seq")
        if self._c.dialect.name == "postgresql":
            # One round trip: the lock, the row and the notification (delivered to listening
            # brokers when, and only if, this commits) in one statement; see ``_APPEND_AUDIT_PG``.
            row["notify_payload"] = notify_payload(event.agent_id, event.run_id)
            return int(self._c.execute(_APPEND_AUDIT_PG, row).scalar_one())
        key = self._c.execute(_INSERT_AUDIT, row).inserted_primary_key
        assert key is not None  # every insert of this table assigns seq
        return int(key[0])

    def list_audit(self, *, grant_id: str | None = None, limit: int = 1000) -> list[AuditEvent]:
        query = select(audit_events).order_by(audit_events.c.seq).limit(limit)
        if grant_id is not None:
            query = query.where(audit_events.c.grant_id == grant_id)
        return [_audit_from_row(r) for r in self._c.execute(query).mappings()]

    def list_audit_after(self, seq: int, *, agent_id: str | None = None, run_id: str | None = None,
                         limit: int = 500) -> list[AuditEvent]:
        query = select(audit_events).where(audit_events.c.seq > seq).order_by(audit_events.c.seq).limit(limit)
        if agent_id is not None:
            query = query.where(audit_events.c.agent_id == agent_id)
        if run_id is not None:
            query = query.where(audit_events.c.run_id == run_id)
        return [_audit_from_row(r) for r in self._c.execute(query).mappings()]

    def recent_audit_times(self, agent_id: str, event: str, limit: int) -> list[datetime]:
        # Walks the agent's feed index backwards: the cost follows its recent rows, not its history.
        # A cap is checked against these times before a row is added: serialised as the counts are.
        self.serialize(f"audit:{event}", agent_id)
        query = (select(audit_events.c.at).where(audit_events.c.agent_id == agent_id, audit_events.c.event == event)
                 .order_by(audit_events.c.seq.desc()).limit(limit))
        return list(self._c.execute(query).scalars())

    def last_audit_seq(self) -> int:
        return int(self._c.execute(select(func.coalesce(func.max(audit_events.c.seq), 0))).scalar_one())

    def count_secrets_by_key(self) -> dict[str, int]:
        query = select(grant_secrets.c.key_id, func.count()).group_by(grant_secrets.c.key_id)
        return {str(key_id): int(count) for key_id, count in self._c.execute(query)}

    def list_secrets_not_under(self, key_id: str, *, after: str = "", limit: int = 500) -> list[tuple[str, SealedSecret]]:
        query = (select(grant_secrets).where(grant_secrets.c.key_id != key_id, grant_secrets.c.grant_id > after)
                 .order_by(grant_secrets.c.grant_id).limit(limit))
        return [(row["grant_id"], SealedSecret(key_id=row["key_id"], blob=bytes(row["blob"])))
                for row in self._c.execute(query).mappings()]

    def reseal_secret(self, grant_id: str, expected: SealedSecret, sealed: SealedSecret) -> bool:
        query = (update(grant_secrets)
                 .where(grant_secrets.c.grant_id == grant_id, grant_secrets.c.key_id == expected.key_id,
                        grant_secrets.c.blob == expected.blob)
                 .values(key_id=sealed.key_id, blob=sealed.blob))
        return self._c.execute(query).rowcount == 1


_LISTS = ("approvals",)


def _filtered(query: Select[Any], where: GrantFilter) -> Select[Any]:
    """``query`` narrowed by every field of ``where`` that is set (not its order or limit)."""
    if where.scopes is not None:
        pairs = [and_(grants.c.family == family, grants.c.team == team, grants.c.target == target)
                 for family, team, target in where.scopes]
        query = query.where(or_(*pairs) if pairs else false())
    if where.statuses:
        query = query.where(grants.c.status.in_([s.value for s in where.statuses]))
    for column, value in (
        (grants.c.team, where.team), (grants.c.target, where.target),
        (grants.c.agent_id, where.agent_id), (grants.c.approver, where.approver), (grants.c.run_id, where.run_id),
    ):
        if value:
            query = query.where(column == value)
    return query


def _grant_row(grant: Grant) -> dict[str, Any]:
    row = row_of(grant)
    row.pop("revision")  # the store owns it: every write bumps it
    row["ttl_seconds"] = int(row.pop("ttl").total_seconds())
    row["status"] = grant.status.value
    for name in _LISTS:
        row[name] = list(row[name])
    row["scope"] = document(grant.scope)
    return row


def _grant_from_row(row: Any) -> Grant:
    values = dict(row)
    ttl = timedelta(seconds=values.pop("ttl_seconds"))
    for name in _LISTS:
        values[name] = json_list(values[name])
    # The family's document, in its stored order (the family's field order when written).
    values["scope"] = {str(key): json_list(items) for key, items in (values["scope"] or {}).items()}
    return Grant(ttl=ttl, **{**values, "status": GrantStatus(values["status"])})


def _audit_from_row(row: Any) -> AuditEvent:
    return AuditEvent(**dict(row))
