"""ECR: repository settings, image details, identities, registry documents, creation templates.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories") as table:
        table.add_column(sa.Column("tag_mutability", sa.String(32), nullable=False, server_default="MUTABLE"))
        table.add_column(sa.Column("mutability_exclusions", sa.Text))
        table.add_column(sa.Column("scan_on_push", sa.Boolean, nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("encryption", sa.Text))
        table.add_column(sa.Column("resource_tags", sa.Text))
        table.add_column(sa.Column("repository_policy", sa.Text))
        table.add_column(sa.Column("lifecycle_policy", sa.Text))
        table.add_column(sa.Column("lifecycle_evaluated_at", sa.Float))
    with op.batch_alter_table("manifests") as table:
        table.add_column(sa.Column("config_media_type", sa.String(255)))
        table.add_column(sa.Column("image_size", sa.BigInteger))
    op.create_table(
        "principals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("principal_id", sa.Integer, sa.ForeignKey("principals.id", ondelete="CASCADE"), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "registry_documents",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "creation_templates",
        sa.Column("prefix", sa.String(256), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("creation_templates", "registry_documents", "access_keys", "principals"):
        op.drop_table(table)
    with op.batch_alter_table("manifests") as table:
        table.drop_column("image_size")
        table.drop_column("config_media_type")
    with op.batch_alter_table("repositories") as table:
        for column in (
            "lifecycle_evaluated_at",
            "lifecycle_policy",
            "repository_policy",
            "resource_tags",
            "encryption",
            "scan_on_push",
            "mutability_exclusions",
            "tag_mutability",
        ):
            table.drop_column(column)
