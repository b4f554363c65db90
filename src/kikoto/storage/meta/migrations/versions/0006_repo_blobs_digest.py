"""An index on repo_blobs(digest): garbage collection and mounts look links up by digest alone,
which the (repo_id, digest) key cannot serve (20,000 dead blobs took 29 s without it).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_repo_blobs_digest", "repo_blobs", ["digest"])
    op.create_index("ix_audit_repository_id", "audit_events", ["repository", "id"])  # the audit log by key


def downgrade() -> None:
    op.drop_index("ix_audit_repository_id", "audit_events")
    op.drop_index("ix_repo_blobs_digest", "repo_blobs")
