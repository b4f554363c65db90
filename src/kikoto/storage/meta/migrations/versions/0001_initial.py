"""Initial schema: repositories, blobs, manifests, tags, references, uploads.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _repo_fk() -> sa.Column:
    return sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "repo_blobs",
        _repo_fk(),
        sa.Column("digest", sa.String(200), sa.ForeignKey("blobs.digest"), primary_key=True),
        sa.Column("linked_at", sa.Float, nullable=False),
    )
    op.create_table(
        "manifests",
        _repo_fk(),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("artifact_type", sa.String(255)),
        sa.Column("subject_digest", sa.String(200)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("annotations", sa.Text),
        sa.Column("pushed_at", sa.Float, nullable=False),
        sa.Column("last_pulled_at", sa.Float),
    )
    op.create_index("ix_manifests_subject", "manifests", ["repo_id", "subject_digest"])
    op.create_table(
        "manifest_refs",
        _repo_fk(),
        sa.Column("parent_digest", sa.String(200), primary_key=True),
        sa.Column("child_digest", sa.String(200), primary_key=True),
        sa.Column("child_kind", sa.String(8), nullable=False),
    )
    op.create_index("ix_manifest_refs_child", "manifest_refs", ["child_digest"])
    op.create_table(
        "tags",
        _repo_fk(),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tags_digest", "tags", ["repo_id", "digest"])
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("uploads", "tags", "manifest_refs", "manifests", "repo_blobs", "blobs", "repositories"):
        op.drop_table(table)
