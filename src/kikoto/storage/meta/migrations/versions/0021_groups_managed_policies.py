"""IAM groups (members and inline policies), managed policies with versions, and what each
user, group and role has attached.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("iam_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("principal_id", sa.Integer, sa.ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True),
        sa.Index("ix_group_members_principal", "principal_id"),
    )
    op.create_table(
        "group_policies",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("iam_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "managed_policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("default_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "policy_versions",
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("managed_policies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "policy_attachments",
        sa.Column("kind", sa.String(8), primary_key=True),  # user | group | role
        sa.Column("holder_id", sa.Integer, primary_key=True),
        sa.Column("policy_arn", sa.String(300), primary_key=True),
        sa.Index("ix_policy_attachments_arn", "policy_arn"),
    )


def downgrade() -> None:
    for table in (
        "policy_attachments",
        "policy_versions",
        "managed_policies",
        "group_policies",
        "group_members",
        "iam_groups",
    ):
        op.drop_table(table)
