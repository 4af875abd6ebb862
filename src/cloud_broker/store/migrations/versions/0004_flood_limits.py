"""Bounds on a flood of requests: the caps count open pending grants per agent and run, and
the page limit counts delivery rows per ceiling and window (``deliveries.batch_key``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("batch_key", sa.String(160)))
    op.create_index("deliveries_batch", "deliveries", ["batch_key", "kind"])
    # Partial, like grants_one_pending_per_request: only the few open rows, whatever the history.
    op.create_index(
        "grants_open_pending",
        "grants",
        ["agent_id", "run_id", "pending_expires_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("grants_open_pending", "grants")
    op.drop_index("deliveries_batch", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("batch_key")
