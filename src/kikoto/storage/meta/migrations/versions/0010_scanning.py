"""Scanning: OSV vulnerability data, image scans with their inventories, and findings.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vulnerabilities",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("modified", sa.Float, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "vulnerable_packages",
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("ecosystem", sa.String(128), nullable=False),
        sa.Column("vuln_id", sa.String(128), nullable=False),
        sa.UniqueConstraint("name", "ecosystem", "vuln_id"),
    )
    op.create_table(
        "image_scans",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("manual_at", sa.Float),
        sa.Column("completed_at", sa.Float),
        sa.Column("vulndb_version", sa.Integer),
        sa.Column("severity_counts", sa.Text),
        sa.Column("inventory", sa.Text),
        sa.Column("claimed_until", sa.Float),
    )
    op.create_index("ix_image_scans_status", "image_scans", ["status"])
    op.create_table(
        "scan_findings",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("finding", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("scan_findings", "image_scans", "vulnerable_packages", "vulnerabilities"):
        op.drop_table(table)
