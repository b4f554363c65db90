"""Pull-through cache: rules, the secrets they name, when each cached tag was last checked
upstream, and the rule that created a repository.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.add_column(sa.Column("upstream", sa.String(64)))
    op.create_table(
        "pull_through_rules",
        sa.Column("prefix", sa.String(64), primary_key=True),
        sa.Column("upstream_registry", sa.String(64)),
        sa.Column("upstream_url", sa.String(512), nullable=False),
        sa.Column("credential_arn", sa.String(612)),
        sa.Column("custom_role_arn", sa.String(2048)),
        sa.Column("upstream_prefix", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("arn", sa.String(600), nullable=False, unique=True),
        sa.Column("value", sa.Text),
        sa.Column("version_id", sa.String(64)),
        sa.Column("description", sa.Text),
        sa.Column("tags", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
        sa.Column("deletion_date", sa.Float),
    )
    op.create_table(
        "upstream_checks",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(128), primary_key=True),
        sa.Column("checked_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upstream_checks")
    op.drop_table("secrets")
    op.drop_table("pull_through_rules")
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("upstream")
