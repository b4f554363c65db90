"""IAM roles (a trust policy and inline policies), OpenID Connect providers, and the short-lived
keys STS issues when a role is assumed with a web identity.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("trust_policy", sa.Text, nullable=False),
        sa.Column("max_session", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("tags", sa.Text, nullable=False, server_default="{}"),  # JSON: the role's tags
    )
    op.create_table(
        "role_policies",
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "oidc_providers",
        sa.Column("url", sa.String(255), primary_key=True),  # the issuer without its scheme, as IAM names it
        sa.Column("issuer", sa.String(300), nullable=False),  # with it
        sa.Column("client_ids", sa.Text, nullable=False),  # JSON list
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "session_keys",
        sa.Column("id", sa.String(32), primary_key=True),  # ASIA...
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("session_name", sa.String(64), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),  # encrypted with the master key
        sa.Column("token_hash", sa.String(64), nullable=False),  # sha256 of the session token
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("tags", sa.Text, nullable=False, server_default="{}"),  # JSON: the session's tags
        sa.Index("ix_session_keys_expires", "expires_at"),
    )


def downgrade() -> None:
    for table in ("session_keys", "oidc_providers", "role_policies", "roles"):
        op.drop_table(table)
