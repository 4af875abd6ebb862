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
    and_,
    bindparam,
    case,
    create_engine,
    event,
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
from cloud_broker.errors import NotFound
from cloud_broker.service.ports import AuditEvent, DuplicateRequest, GrantFilter, OpenPending
from cloud_broker.store.outbox_rows import OutboxRows
from cloud_broker.store.tables import audit_events, grant_secrets, grants, json_list, row_of
from cloud_broker.vault import SealedSecret

MIGRATIONS = Path(__file__).parent / "migrations"
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


def create_store_engine(url: str) -> Engine:
    """An engine tuned for the broker: SQLite in WAL mode with a busy timeout, so a CLI
    approval and a running server can share one file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off: it sends BEGIN only before the
    # first INSERT/UPDATE/DELETE, so a SAVEPOINT issued first would open the transaction and
    # its release would commit the unit of work halfway. ``_sqlite_begin`` begins instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Every unit of work takes the write lock at its start (waiting up to the busy timeout):
    a read-then-write cannot fail halfway because another writer committed in between, and
    the order of audit rows is the order of commits."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision. Safe to run at every start-up."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class SqlStore:
    """Hands out units of work over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> SqlStore:
        engine = create_store_engine(url)
        migrate(engine)
        return cls(engine)

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlUnitOfWork]:
        with self.engine.begin() as connection:
            yield SqlUnitOfWork(connection)


class SqlUnitOfWork(OutboxRows):
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

    def count_open_pending(self, agent_id: str, run_id: str, now: datetime) -> OpenPending:
        """Exact under SQLite's ``BEGIN IMMEDIATE``: no other writer runs between this count and
        the caller's insert. On PostgreSQL (READ COMMITTED) two transactions would both count
        the same rows and both insert; the count would need a per-agent lock taken first, e.g.
        ``pg_advisory_xact_lock(hashtext(agent_id))``, or ``SELECT … FOR UPDATE`` on a row per
        agent. Not built yet: on PostgreSQL, requests racing at the cap can each pass it."""
        in_run = func.coalesce(func.sum(case((grants.c.run_id == run_id, 1), else_=0)), 0)
        query = select(func.count(), in_run).where(
            grants.c.agent_id == agent_id,
            grants.c.status == _PENDING,
            or_(grants.c.pending_expires_at.is_(None), grants.c.pending_expires_at > now),
        )
        agent, run = self._c.execute(query).one()
        return OpenPending(agent=int(agent), run=int(run))


    def count_recent_requests(self, agent_id: str, since: datetime) -> int:
        """Exact under SQLite's ``BEGIN IMMEDIATE``, as ``count_open_pending``; PostgreSQL would
        need the same per-agent lock."""
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
        if self._c.dialect.name == "postgresql":
            self._c.exec_driver_sql(f"SELECT pg_advisory_xact_lock({AUDIT_ORDER_LOCK})")
        row = row_of(event)
        row.pop("seq")
        result = self._c.execute(_INSERT_AUDIT, row)
        key = result.inserted_primary_key
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
        query = (select(audit_events.c.at).where(audit_events.c.agent_id == agent_id, audit_events.c.event == event)
                 .order_by(audit_events.c.seq.desc()).limit(limit))
        return list(self._c.execute(query).scalars())

    def last_audit_seq(self) -> int:
        return int(self._c.execute(select(func.coalesce(func.max(audit_events.c.seq), 0))).scalar_one())


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
