"""A grant row names its family and target and keeps its scope as one document.

Before: ``provider``, ``account_id`` and the AWS lists ``actions``, ``resources``, ``regions``.
After: ``family``, ``target`` and ``scope`` (``{"actions": [...], "resources": [...],
"regions": [...]}`` for AWS), so a second cloud needs no columns of its own. Pending rows get
their request key again under the new formula (which names the family), so a repeat of a
request filed before the upgrade still finds it. Everything is copied in this migration's own
terms: later code may change, what it did to old rows may not.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

_PENDING = "status = 'pending'"


def upgrade() -> None:
    _drop_grant_indexes()
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("family", sa.String(16)))
        batch.add_column(sa.Column("target", sa.String(128)))
        batch.add_column(sa.Column("scope", sa.JSON))
    rows = sa.table(
        "grants", sa.column("grant_id", sa.String), sa.column("provider", sa.String),
        sa.column("account_id", sa.String), sa.column("actions", sa.JSON), sa.column("resources", sa.JSON),
        sa.column("regions", sa.JSON), sa.column("agent_id", sa.String), sa.column("run_id", sa.String),
        sa.column("ttl_seconds", sa.Integer), sa.column("status", sa.String), sa.column("request_key", sa.String),
        sa.column("family", sa.String), sa.column("target", sa.String), sa.column("scope", sa.JSON),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(rows)).mappings().all():
        connection.execute(rows.update().where(rows.c.grant_id == row["grant_id"]).values(**_converted(row)))
    with op.batch_alter_table("grants") as batch:
        batch.alter_column("family", existing_type=sa.String(16), nullable=False)
        batch.alter_column("target", existing_type=sa.String(128), nullable=False)
        batch.alter_column("scope", existing_type=sa.JSON, nullable=False)
        for name in ("provider", "account_id", "actions", "resources", "regions"):
            batch.drop_column(name)
    _create_grant_indexes()


def downgrade() -> None:
    """Only AWS rows can go back: the old shape has no place for another family's scope."""
    connection = op.get_bind()
    grants = sa.table("grants", sa.column("family", sa.String))
    others = connection.execute(sa.select(sa.func.count()).select_from(grants).where(grants.c.family != "aws"))
    if others.scalar_one():
        raise RuntimeError("the database holds grants of families other than aws; it cannot go below revision 0006")
    _drop_grant_indexes()
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("provider", sa.String(16)))
        batch.add_column(sa.Column("account_id", sa.String(32)))
        for name in ("actions", "resources", "regions"):
            batch.add_column(sa.Column(name, sa.JSON))
    rows = sa.table("grants", sa.column("grant_id", sa.String), sa.column("target", sa.String),
                    sa.column("scope", sa.JSON), sa.column("provider", sa.String), sa.column("account_id", sa.String),
                    sa.column("actions", sa.JSON), sa.column("resources", sa.JSON), sa.column("regions", sa.JSON))
    for row in connection.execute(sa.select(rows)).mappings().all():
        scope = row["scope"] or {}
        connection.execute(rows.update().where(rows.c.grant_id == row["grant_id"]).values(
            provider="aws", account_id=row["target"], actions=scope.get("actions", []),
            resources=scope.get("resources", []), regions=scope.get("regions", [])))
    with op.batch_alter_table("grants") as batch:
        for name in ("provider", "account_id", "actions", "resources", "regions"):
            batch.alter_column(name, nullable=False, existing_type=sa.JSON if name not in ("provider", "account_id")
                               else sa.String(32))
        for name in ("family", "target", "scope"):
            batch.drop_column(name)
    _create_grant_indexes()


def _converted(row: Any) -> dict[str, Any]:
    scope = {"actions": list(row["actions"] or []), "resources": list(row["resources"] or []),
             "regions": list(row["regions"] or [])}
    values: dict[str, Any] = {"family": row["provider"] or "aws", "target": row["account_id"], "scope": scope}
    if row["status"] == "pending" and row["request_key"]:
        key = [row["agent_id"], row["run_id"], values["family"], row["account_id"],
               *([name, sorted(scope[name])] for name in sorted(scope)), int(row["ttl_seconds"])]
        values["request_key"] = hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()
    return values


def _drop_grant_indexes() -> None:
    """SQLite's batch mode rebuilds the table; partial indexes are recreated by hand after it."""
    for name in ("grants_one_pending_per_request", "grants_pending_expiry", "grants_open_pending",
                 "grants_agent_created"):
        op.drop_index(name, "grants")


def _create_grant_indexes() -> None:
    op.create_index("grants_one_pending_per_request", "grants", ["request_key"], unique=True,
                    sqlite_where=sa.text(_PENDING), postgresql_where=sa.text(_PENDING))
    op.create_index("grants_pending_expiry", "grants", ["status", "pending_expires_at"])
    op.create_index("grants_open_pending", "grants", ["agent_id", "run_id", "pending_expires_at"],
                    sqlite_where=sa.text(_PENDING), postgresql_where=sa.text(_PENDING))
    op.create_index("grants_agent_created", "grants", ["agent_id", "created_at"])
