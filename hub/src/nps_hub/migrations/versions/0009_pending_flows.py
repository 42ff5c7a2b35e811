"""reports' traffic records may wait in pending_flows while reports queue (backlog.py)

Storing each record as a row (five per device per report, four index entries each) was
the largest part of a report's cost on PostgreSQL: with the records not stored at all,
the fleet bench merged 40 % more assets a second. While reports queue for the ingest
threads, a report's records now wait as one row (the report as it came, still
compressed) and go into `flows` when the queue is empty. Each row goes with its report.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_flows",
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sensor_id", sa.Integer, nullable=False),
        sa.Column("network", sa.String(128), nullable=False),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("by_ip", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pending_flows")
