"""The audit log records every change from every face: who (an ARN is longer than the
64 characters a principal name had), from where, how it ended, and the tag it touched, with an
index for a tag's history paged by key.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as table:
        table.alter_column("actor", type_=sa.String(512), existing_nullable=False)
        table.alter_column("action", type_=sa.String(64), existing_nullable=False)
        table.add_column(sa.Column("source", sa.String(64)))
        table.add_column(sa.Column("outcome", sa.String(64)))
        table.add_column(sa.Column("tag", sa.String(256)))
    op.create_index("ix_audit_repository_tag_id", "audit_events", ["repository", "tag", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_repository_tag_id", "audit_events")
    with op.batch_alter_table("audit_events") as table:
        table.drop_column("tag")
        table.drop_column("outcome")
        table.drop_column("source")
        table.alter_column("action", type_=sa.String(32), existing_nullable=False)
        table.alter_column("actor", type_=sa.String(64), existing_nullable=False)
