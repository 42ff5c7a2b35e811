"""what discovery predicted, in columns of the assets

Vendor, OS (name and version, family, confidence) and device (type, model,
confidence) leave the raw JSON for columns that the inventory filters, searches and
sorts; assets stored before are filled from their raw data by the next report that
names them.

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


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name in ("device_confidence", "os_confidence", *reversed([n for n, _ in TEXT])):
            batch_op.drop_column(name)
