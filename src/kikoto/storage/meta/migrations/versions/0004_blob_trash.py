"""Blob trash: garbage collection forgets a blob before its bytes go (crash consistency).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_trash",
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("trashed_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blob_trash")
