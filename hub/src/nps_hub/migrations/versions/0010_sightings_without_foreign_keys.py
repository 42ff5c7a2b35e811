"""sightings lose their foreign keys: what the cascades did is done where assets and sensors go

Each sighting row PostgreSQL inserts checks its two foreign keys, a query each, row by
row: for new assets that was three quarters of what the sightings cost the server (0.107
CPU-s per 10,000 new assets, 0.029 without them); in the fleet bench's burst of new
assets, the server's share fell from 0.39 to 0.28-0.30 without them (with the new
assets' sightings inserted straight in). The cascades had nothing left to do:
a sensor's sightings are deleted before the sensor (ingest.delete_assets_of), and an
asset is only ever deleted once no sighting names it (merge.delete_unseen). The flows
lost theirs for the same reason (0004).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ENDS = (("asset_id", "assets"), ("sensor_id", "sensors"))


def sightings() -> sa.Table:
    """The table as 0001 made it, without its foreign keys."""
    return sa.Table(
        "sightings",
        sa.MetaData(),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.String(length=40), nullable=False),
        sa.Column("last_seen", sa.String(length=40), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", "sensor_id"),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column, _ in ENDS:
            op.execute(sa.text(f"ALTER TABLE sightings DROP CONSTRAINT IF EXISTS sightings_{column}_fkey"))
        return
    # SQLite cannot drop a constraint: the table is made again from this definition.
    with op.batch_alter_table("sightings", copy_from=sightings(), recreate="always"):
        pass


def downgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        for column, table in ENDS:
            batch_op.create_foreign_key(f"sightings_{column}_fkey", table, [column], ["id"], ondelete="CASCADE")
