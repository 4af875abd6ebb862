"""The request rate limit counts one agent's grants of the last minute (``count_recent_requests``)."""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_index("grants_agent_created", "grants", ["agent_id", "created_at"])


def downgrade() -> None:
    op.drop_index("grants_agent_created", "grants")
