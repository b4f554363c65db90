"""Stored lifecycle preview results hold their fields by name (domain/lifecycle.PreviewResult),
not ECR's previewResult structure (the ECR face builds that now): rows kept before are rewritten.

Revision ID: 0015
Revises: 0014
"""

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

RESULTS = sa.table(
    "lifecycle_preview_results",
    sa.column("repo_id", sa.Integer),
    sa.column("digest", sa.String),
    sa.column("result", sa.Text),
)
BATCH = 1000


def _rewrite(convert: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    conn, after = op.get_bind(), (-1, "")
    while True:  # in batches by key
        rows = conn.execute(
            sa.select(RESULTS.c.repo_id, RESULTS.c.digest, RESULTS.c.result)
            .where(sa.tuple_(RESULTS.c.repo_id, RESULTS.c.digest) > sa.tuple_(*after))
            .order_by(RESULTS.c.repo_id, RESULTS.c.digest)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            stored = json.loads(row.result)
            conn.execute(
                RESULTS.update()
                .where(RESULTS.c.repo_id == row.repo_id, RESULTS.c.digest == row.digest)
                .values(result=json.dumps(convert(stored)))
            )
        after = (rows[-1].repo_id, rows[-1].digest)


def _fields(ecr: dict[str, Any]) -> dict[str, Any]:
    if "digest" in ecr:  # already written by name
        return ecr
    return {
        "digest": ecr["imageDigest"],
        "tags": ecr.get("imageTags") or [],
        "pushed_at": ecr["imagePushedAt"],
        "action": ecr["action"]["type"],
        "rule": ecr["appliedRulePriority"],
        "storage_class": ecr.get("storageClass", "STANDARD"),
    }


def _ecr(fields: dict[str, Any]) -> dict[str, Any]:
    action = {
        "type": fields["action"],
        **({"targetStorageClass": "ARCHIVE"} if fields["action"] == "TRANSITION" else {}),
    }
    return {
        "imageTags": fields["tags"],
        "imageDigest": fields["digest"],
        "imagePushedAt": fields["pushed_at"],
        "action": action,
        "appliedRulePriority": fields["rule"],
        "storageClass": fields["storage_class"],
    }


def upgrade() -> None:
    _rewrite(_fields)


def downgrade() -> None:
    _rewrite(_ecr)
