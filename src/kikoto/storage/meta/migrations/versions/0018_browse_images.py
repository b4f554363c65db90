"""The console's image list pages by key in push order or by size (newest, or largest, first):
an index for each, and every image given a size (rows from before 0002 had none).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    manifests = sa.table("manifests", sa.column("image_size", sa.BigInteger), sa.column("size", sa.BigInteger))
    op.execute(manifests.update().where(manifests.c.image_size.is_(None)).values(image_size=manifests.c.size))
    op.create_index("ix_manifests_repo_pushed", "manifests", ["repo_id", "pushed_at", "digest"])
    op.create_index("ix_manifests_repo_size", "manifests", ["repo_id", "image_size", "digest"])


def downgrade() -> None:
    op.drop_index("ix_manifests_repo_size", "manifests")
    op.drop_index("ix_manifests_repo_pushed", "manifests")
