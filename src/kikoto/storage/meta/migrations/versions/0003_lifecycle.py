"""Lifecycle: archive tier, previews, audit events, job leases.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("manifests") as table:
        table.add_column(sa.Column("storage_class", sa.String(16), nullable=False, server_default="STANDARD"))
        table.add_column(sa.Column("archived_at", sa.Float))
        table.add_column(sa.Column("activated_at", sa.Float))
    with op.batch_alter_table("blobs") as table:
        table.add_column(sa.Column("tier", sa.String(16), nullable=False, server_default="standard"))
    op.create_table(
        "lifecycle_previews",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("results", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("repository", sa.String(256)),
        sa.Column("digest", sa.String(200)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_repository_at", "audit_events", ["repository", "at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("leases", "audit_events", "lifecycle_previews"):
        op.drop_table(table)
    with op.batch_alter_table("blobs") as table:
        table.drop_column("tier")
    with op.batch_alter_table("manifests") as table:
        for column in ("activated_at", "archived_at", "storage_class"):
            table.drop_column(column)
