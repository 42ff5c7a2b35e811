"""roles, guessing limits in the database, one asset per MAC

Roles instead of the admin flag; guessing limits in the database; one asset per MAC
per Network, enforced by a unique index (duplicates that concurrent uploads made
before are folded into the oldest asset first); an index for matching by hostname;
flows without foreign keys (their checks cost three times the insert).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="viewer"))
    # Administrators stay administrators; other users could do everything but manage
    # users: they become operators.
    op.execute(sa.text("UPDATE users SET role = CASE WHEN admin THEN 'administrator' ELSE 'operator' END"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("admin")
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attempts_kind_key_at", "attempts", ["kind", "key", "at"], unique=False)
    op.create_table(
        "login_sources",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("last", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "address"),
    )
    fold_duplicate_assets()
    flows_without_foreign_keys()
    if op.get_bind().dialect.name == "postgresql":
        # Room in each page for the next version of a row: an asset's or a sighting's
        # update (every report) then leaves its indexes alone (a heap-only tuple).
        op.execute(sa.text("ALTER TABLE assets SET (fillfactor = 70)"))
        op.execute(sa.text("ALTER TABLE sightings SET (fillfactor = 70)"))
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_network_mac")
        batch_op.create_index("uq_assets_network_mac", ["network", "mac"], unique=True)
        batch_op.create_index("ix_assets_network_hostname", ["network", "hostname"], unique=False)


def fold_duplicate_assets() -> None:
    """Assets sharing a Network and a MAC become the oldest of them: flows and sightings
    move to it (a sensor's sighting it has already is kept), the others go."""
    conn = op.get_bind()
    groups = conn.execute(
        sa.text(
            "SELECT network, mac, min(id) FROM assets WHERE mac IS NOT NULL GROUP BY network, mac HAVING count(*) > 1"
        )
    ).all()
    for network, mac, keep in groups:
        others = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT id FROM assets WHERE network = :n AND mac = :m AND id != :k"),
                {"n": network, "m": mac, "k": keep},
            )
        ]
        for other in others:
            args = {"keep": keep, "other": other}
            conn.execute(sa.text("UPDATE flows SET client_asset = :keep WHERE client_asset = :other"), args)
            conn.execute(sa.text("UPDATE flows SET server_asset = :keep WHERE server_asset = :other"), args)
            conn.execute(
                sa.text(
                    "UPDATE sightings SET asset_id = :keep WHERE asset_id = :other AND sensor_id NOT IN "
                    "(SELECT sensor_id FROM sightings WHERE asset_id = :keep)"
                ),
                args,
            )
            conn.execute(sa.text("DELETE FROM sightings WHERE asset_id = :other"), args)
            conn.execute(sa.text("DELETE FROM assets WHERE id = :other"), args)


FLOW_FKS = ("sensor_id", "report_id", "client_asset", "server_asset")


def flows_without_foreign_keys() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in FLOW_FKS:
            op.execute(sa.text(f"ALTER TABLE flows DROP CONSTRAINT IF EXISTS flows_{column}_fkey"))
        return
    # SQLite cannot drop a constraint: the table is made again from this definition.
    flows = sa.Table(
        "flows",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=128), nullable=False),
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("server", sa.String(length=128), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("proto", sa.String(length=16), nullable=False),
        sa.Column("client_bytes", sa.BigInteger(), nullable=False),
        sa.Column("server_bytes", sa.BigInteger(), nullable=False),
        sa.Column("client_packets", sa.BigInteger(), nullable=False),
        sa.Column("server_packets", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.String(length=40), nullable=False),
        sa.Column("last_seen", sa.String(length=40), nullable=False),
        sa.Column("client_asset", sa.Integer(), nullable=True),
        sa.Column("server_asset", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_flows_client_asset", "client_asset"),
        sa.Index("ix_flows_server_asset", "server_asset"),
        sa.Index("ix_flows_sensor_id", "sensor_id"),
    )
    with op.batch_alter_table("flows", copy_from=flows, recreate="always"):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("ALTER TABLE assets RESET (fillfactor)"))
        op.execute(sa.text("ALTER TABLE sightings RESET (fillfactor)"))
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.create_foreign_key("flows_sensor_id_fkey", "sensors", ["sensor_id"], ["id"], ondelete="CASCADE")
        batch_op.create_foreign_key("flows_report_id_fkey", "reports", ["report_id"], ["id"], ondelete="CASCADE")
        batch_op.create_foreign_key("flows_client_asset_fkey", "assets", ["client_asset"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key("flows_server_asset_fkey", "assets", ["server_asset"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_network_hostname")
        batch_op.drop_index("uq_assets_network_mac")
        batch_op.create_index("ix_assets_network_mac", ["network", "mac"], unique=False)
    op.drop_table("login_sources")
    op.drop_index("ix_attempts_kind_key_at", table_name="attempts")
    op.drop_table("attempts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE users SET admin = (role = 'administrator')"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("role")
