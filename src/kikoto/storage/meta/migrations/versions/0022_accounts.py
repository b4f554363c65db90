"""Accounts beside the first, and the account a principal belongs to (NULL: the first, so an
existing installation's principals and repositories are the first account's as they stand).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("alias", sa.String(63), unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("principals") as batch:
        batch.add_column(sa.Column("account", sa.String(12)))


def downgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.drop_column("account")
    op.drop_table("accounts")
