"""The outbox stores each image change's facts by their field names (domain/events.py), not by
EventBridge's detail keys: rows recorded before are rewritten, so a consumer that has not read
them yet reads them as the new ones (EventBridge's words are the events feature's now).

Revision ID: 0014
Revises: 0013
"""

import calendar
import json
import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OUTBOX = sa.table("outbox", sa.column("id", sa.Integer), sa.column("detail", sa.Text))
RENAMED = {
    "manifest-media-type": "media_type",
    "artifact-media-type": "artifact_media_type",
    "ecr-repository-prefix": "rule_prefix",
    "upstream-registry-url": "upstream_url",
    "target-storage-class": "storage_class",
    "finding-severity-counts": "severity_counts",
    "image-tags": "tags",
    "source-account": "source_account",
    "source-region": "source_region",
    "destination-region": "destination_region",
    "destination-registry-id": "destination_registry_id",
}
BATCH = 1000


def _facts(detail: dict[str, Any]) -> dict[str, Any]:
    facts = {RENAMED[k]: v for k, v in detail.items() if k in RENAMED}
    if "last-activated-at" in detail:  # an ISO time then, seconds now
        facts["activated_at"] = float(calendar.timegm(time.strptime(detail["last-activated-at"], "%Y-%m-%dT%H:%M:%SZ")))
    if "result" in detail:
        facts["succeeded"] = detail["result"] == "SUCCESS"
    return facts


def upgrade() -> None:
    conn, after = op.get_bind(), 0
    while True:  # in batches by key: the outbox can be long
        rows = conn.execute(
            sa.select(OUTBOX.c.id, OUTBOX.c.detail)
            .where(OUTBOX.c.id > after, OUTBOX.c.detail.is_not(None))
            .order_by(OUTBOX.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            facts = _facts(json.loads(row.detail))
            conn.execute(
                OUTBOX.update().where(OUTBOX.c.id == row.id).values(detail=json.dumps(facts) if facts else None)
            )
        after = rows[-1].id


def downgrade() -> None:
    conn = op.get_bind()
    back = {v: k for k, v in RENAMED.items()}
    for row in conn.execute(sa.select(OUTBOX.c.id, OUTBOX.c.detail).where(OUTBOX.c.detail.is_not(None))).all():
        facts = json.loads(row.detail)
        detail = {back[k]: v for k, v in facts.items() if k in back}
        if "activated_at" in facts:
            detail["last-activated-at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts["activated_at"]))
        if "succeeded" in facts:
            detail["result"] = "SUCCESS" if facts["succeeded"] else "FAILURE"
        conn.execute(OUTBOX.update().where(OUTBOX.c.id == row.id).values(detail=json.dumps(detail)))
