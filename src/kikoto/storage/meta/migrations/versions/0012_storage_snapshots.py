"""Storage snapshots: the registry's stored blobs and bytes after each garbage collection,
for the console's trend.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_snapshots",
        sa.Column("at", sa.Float, primary_key=True),
        sa.Column("blobs", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("storage_snapshots")
