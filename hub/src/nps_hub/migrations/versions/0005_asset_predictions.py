"""what discovery predicted, in columns of the assets; the heartbeats' history

Vendor, OS (name and version, family, confidence) and device (type, model,
confidence) leave the raw JSON for columns that the inventory filters, searches and
sorts; assets stored before are filled from their raw data by the next report that
names them. The samples table keeps each sensor's figures per minute for the
dashboard; traffic_minutes and service_totals sum the traffic records per minute and per
service (filled from the records stored before).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TEXT = (("vendor", 255), ("os", 255), ("os_family", 64), ("device_type", 64), ("model", 255))


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name, length in TEXT:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=""))
        for name in ("os_confidence", "device_confidence"):
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=False, server_default="0"))
    op.create_table(
        "samples",
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pps", sa.Float(), nullable=False),
        sa.Column("mbps", sa.Float(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("memory_percent", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["sensor_id"], ["sensors.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sensor_id", "minute"),
    )
    op.create_index("ix_samples_minute", "samples", ["minute"], unique=False)
    for name, key in (("traffic_minutes", (sa.Column("minute", sa.String(length=16), nullable=False),)),
                      ("service_totals", (sa.Column("proto", sa.String(length=16), nullable=False),
                                          sa.Column("port", sa.Integer(), nullable=False)))):  # fmt: skip
        op.create_table(
            name,
            sa.Column("sensor_id", sa.Integer(), nullable=False),
            *key,
            sa.Column("bytes", sa.BigInteger(), nullable=False),
            sa.Column("records", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["sensor_id"], ["sensors.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("sensor_id", *(c.name for c in key)),
        )
    fill_rollups()


def fill_rollups() -> None:
    """The traffic already stored, summed into the new tables."""
    op.execute(
        sa.text(
            "INSERT INTO traffic_minutes (sensor_id, minute, bytes, records) "
            "SELECT sensor_id, substr(last_seen, 1, 16), sum(client_bytes + server_bytes), count(*) "
            "FROM flows WHERE last_seen <> '' "
            "AND sensor_id IN (SELECT id FROM sensors) GROUP BY sensor_id, substr(last_seen, 1, 16)"
        )
    )
    op.execute(sa.text(
        "INSERT INTO service_totals (sensor_id, proto, port, bytes, records) SELECT sensor_id, proto, "
        "coalesce(port, -1), sum(client_bytes + server_bytes), count(*) FROM flows "
        "WHERE sensor_id IN (SELECT id FROM sensors) GROUP BY sensor_id, proto, coalesce(port, -1)"
    ))  # fmt: skip


def downgrade() -> None:
    op.drop_table("service_totals")
    op.drop_table("traffic_minutes")
    op.drop_index("ix_samples_minute", table_name="samples")
    op.drop_table("samples")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name in ("device_confidence", "os_confidence", *reversed([n for n, _ in TEXT])):
            batch_op.drop_column(name)
