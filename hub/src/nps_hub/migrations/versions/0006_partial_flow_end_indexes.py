"""the traffic records' end indexes hold only the ends the inventory knows

Every index costs every record COPY writes. A record's client_asset and server_asset
are NULL where the inventory holds no asset at that end (a server on the Internet,
most of them): the queries on these columns (an asset's page, the map, the ends
cleared when an asset goes) never look for NULL, so the indexes leave those rows out.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ENDS = ("client_asset", "server_asset")


def upgrade() -> None:
    for end in ENDS:
        op.drop_index(f"ix_flows_{end}", table_name="flows")
        where = sa.text(f"{end} IS NOT NULL")
        op.create_index(f"ix_flows_{end}", "flows", [end], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for end in ENDS:
        op.drop_index(f"ix_flows_{end}", table_name="flows")
        op.create_index(f"ix_flows_{end}", "flows", [end])
