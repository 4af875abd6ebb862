"""Counters that outgrow 32 bits become 64-bit on PostgreSQL: lease deadlines are kept in
``outbox_cursors.seq`` as milliseconds since the epoch, and audit sequence numbers must never
wrap. SQLite's INTEGER is already 64-bit, so there it changes nothing."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

_COLUMNS = (("outbox_cursors", "seq"), ("audit_events", "seq"), ("deliveries", "event_seq"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
    # A serial column's sequence was made AS integer: it would stop at 2^31 - 1 on its own.
    op.execute("ALTER SEQUENCE audit_events_seq_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER SEQUENCE audit_events_seq_seq AS integer")
    for table, column in _COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
