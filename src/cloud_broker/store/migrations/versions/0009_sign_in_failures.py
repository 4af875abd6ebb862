"""Failed console sign-ins of the last minutes, so that every broker process on one store counts
them together (the throttle's limits held per process before)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud_broker.store.tables import UtcDateTime

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    op.create_index("sign_in_failures_key", "sign_in_failures", ["key", "at"])
    op.create_index("sign_in_failures_at", "sign_in_failures", ["at"])


def downgrade() -> None:
    op.drop_table("sign_in_failures")
