"""Replication and events: the outbox, its consumers' cursors, webhook targets and deliveries,
peer registries, replication work items and backfills.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("repository", sa.String(256), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("tag", sa.String(300)),
        sa.Column("detail", sa.Text),
    )
    op.create_table(
        "outbox_cursors",
        sa.Column("consumer", sa.String(160), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "event_targets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("pattern", sa.Text),
        sa.Column("secret", sa.Text),
        sa.Column("cloudevents", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("target", "event_id"),
    )
    op.create_table(
        "peers",
        sa.Column("region", sa.String(25), primary_key=True),
        sa.Column("registry_id", sa.String(12), primary_key=True),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("access_key_id", sa.String(256), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "replication_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer),
        sa.Column("backfill_id", sa.String(36)),
        sa.Column("region", sa.String(25), nullable=False),
        sa.Column("registry_id", sa.String(12), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("repository", sa.String(256), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_until", sa.Float),
        sa.Column("failure", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("event_id", "region", "registry_id"),
    )
    op.create_index("ix_replication_due", "replication_items", ["status", "next_at"])
    op.create_index("ix_replication_image", "replication_items", ["repository", "digest"])
    op.create_index("ix_replication_backfill", "replication_items", ["backfill_id"])
    op.create_table(
        "replication_backfills",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("region", sa.String(25), nullable=False),
        sa.Column("registry_id", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("failure_code", sa.String(64)),
    )


def downgrade() -> None:
    for table in ("replication_backfills", "replication_items", "peers", "deliveries", "event_targets"):
        op.drop_table(table)
    op.drop_table("outbox_cursors")
    op.drop_table("outbox")
