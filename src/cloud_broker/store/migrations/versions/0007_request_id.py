"""Audit rows name the HTTP request that wrote them (``service.request_context``).

A nullable column: rows written before the upgrade, and rows written outside a request (the
sweeper, the job runner, a CLI command), have none. No index: the id is looked up by an
operator holding it, rarely, and every append would pay for one. Plain ``ALTER TABLE`` on
both backends (SQLite drops a column natively since 3.35): a batch rebuild of the table would
drop the triggers that keep it append-only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("request_id", sa.String(64)))


def downgrade() -> None:
    op.drop_column("audit_events", "request_id")
