"""Lifecycle preview results one row each, so GetLifecyclePolicyPreview pages by key; the
previews table keeps the policy, status and summary counts. Previews are recomputed on demand,
so the ones stored in the old single-document form are dropped (StartLifecyclePolicyPreview
makes them again).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM lifecycle_previews")
    op.create_table(
        "lifecycle_preview_results",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("pushed_at", sa.Float, nullable=False),
        sa.Column("tagged", sa.Boolean, nullable=False),
        sa.Column("result", sa.Text, nullable=False),  # one previewResult, ECR's structure
    )
    op.create_index("ix_preview_results_order", "lifecycle_preview_results", ["repo_id", "pushed_at", "digest"])


def downgrade() -> None:
    op.drop_table("lifecycle_preview_results")
