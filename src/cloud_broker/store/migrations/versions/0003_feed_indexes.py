"""Indexes for the event feed: an agent's (or one run's) events after a position."""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_index("audit_events_agent_feed", "audit_events", ["agent_id", "seq"])
    op.create_index("audit_events_run_feed", "audit_events", ["run_id", "seq"])


def downgrade() -> None:
    op.drop_index("audit_events_run_feed", "audit_events")
    op.drop_index("audit_events_agent_feed", "audit_events")
