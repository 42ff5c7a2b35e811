"""traffic records indexed by their report, not their sensor (retention)

The sweep deletes the records of reports received more than flows_keep_days ago: a
range of report ids (retention.py), on an index of flows.report_id. The index on
sensor_id served only a sensor's records (GET /flows?sensor=, delete_assets), which
find them as well through its reports (`report_id IN (SELECT id FROM reports WHERE
sensor_id = ?)`): it goes, since every index costs every record stored. Building the
new one reads the table once (minutes for 100 million records; writes wait meanwhile).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_flows_report_id", "flows", ["report_id"])
    op.drop_index("ix_flows_sensor_id", table_name="flows")


def downgrade() -> None:
    op.create_index("ix_flows_sensor_id", "flows", ["sensor_id"])
    op.drop_index("ix_flows_report_id", table_name="flows")
