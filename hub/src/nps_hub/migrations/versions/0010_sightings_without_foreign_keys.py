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

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ENDS = (("asset_id", "assets"), ("sensor_id", "sensors"))
# PostgreSQL's own names for 0001's keys. On SQLite they have none: in batch mode alembic
# reflects them under this convention's names, drops them and makes the table again.
NAMES = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    with op.batch_alter_table("sightings", naming_convention=NAMES) as batch_op:
        for column, _ in ENDS:
            batch_op.drop_constraint(f"sightings_{column}_fkey", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("sightings", naming_convention=NAMES) as batch_op:
        for column, table in ENDS:
            batch_op.create_foreign_key(f"sightings_{column}_fkey", table, [column], ["id"], ondelete="CASCADE")
