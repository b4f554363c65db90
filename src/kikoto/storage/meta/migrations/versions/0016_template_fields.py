"""Repository creation templates are stored by their fields' names (domain/templates.py), not
in the API's RepositoryCreationTemplate shape (the ECR face builds that now): kept templates are
rewritten.

Revision ID: 0016
Revises: 0015
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TEMPLATES = sa.table("creation_templates", sa.column("prefix", sa.String), sa.column("body", sa.Text))
MEMBERS = {  # the API's member -> the field (prefix and times are columns of their own)
    "description": "description",
    "encryptionConfiguration": "encryption",
    "resourceTags": "resource_tags",
    "imageTagMutability": "tag_mutability",
    "imageTagMutabilityExclusionFilters": "mutability_exclusions",
    "repositoryPolicy": "repository_policy",
    "lifecyclePolicy": "lifecycle_policy",
    "appliedFor": "applied_for",
    "customRoleArn": "custom_role_arn",
}


def _rewrite(names: dict[str, str], with_prefix: bool) -> None:
    conn = op.get_bind()  # templates are few (ECR allows 100 per registry): one pass
    for row in conn.execute(sa.select(TEMPLATES.c.prefix, TEMPLATES.c.body)).all():
        body: dict[str, Any] = json.loads(row.body)
        renamed = {names[k]: v for k, v in body.items() if k in names}
        if with_prefix:  # the API's shape carried its prefix in the body too
            renamed = {"prefix": row.prefix, **renamed}
        conn.execute(TEMPLATES.update().where(TEMPLATES.c.prefix == row.prefix).values(body=json.dumps(renamed)))


def upgrade() -> None:
    _rewrite(MEMBERS, with_prefix=False)


def downgrade() -> None:
    _rewrite({field: member for member, field in MEMBERS.items()}, with_prefix=True)
