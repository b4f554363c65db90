"""Managed signing: signing keys (encrypted) and the signing status of each image per profile.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("private_key", sa.Text, nullable=False),  # PEM, encrypted with the master key
        sa.Column("certificate_chain", sa.Text, nullable=False),  # PEM, leaf first, then the root
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "image_signing",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("profile_arn", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(64)),
        sa.Column("failure_reason", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_signing")
    op.drop_table("signing_keys")
