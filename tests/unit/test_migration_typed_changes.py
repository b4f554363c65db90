"""Migration 0014: outbox rows recorded with EventBridge's detail keys read back as typed changes,
with the same facts (a consumer that had not reached them yet loses nothing)."""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from kikoto.domain.events import ImageCached, ImagePushed, ImageReplicated, ImageScanned, StorageClassChanged
from kikoto.storage.meta.engine import MIGRATIONS, create_engine
from kikoto.storage.meta.outbox import SqlOutboxStore

OLD_ROWS = [
    ("PUSH", "1.0", {"manifest-media-type": "application/vnd.oci.image.manifest.v1+json", "artifact-media-type": "c"}),
    ("PULL_THROUGH_CACHE", None, {"ecr-repository-prefix": "hub", "upstream-registry-url": "registry-1.docker.io"}),
    ("UPDATE_STORAGE_CLASS", None, {"target-storage-class": "STANDARD", "last-activated-at": "2023-11-14T22:14:20Z"}),
    ("REPLICATE", None, {"result": "FAILURE", "source-account": "1", "destination-region": "eu-west-1"}),
    ("SCAN", None, {"scan-status": "COMPLETE", "finding-severity-counts": {"HIGH": 1}, "image-tags": ["a", "b"]}),
    ("DELETE", "old", None),
]


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_old_outbox_rows_read_back_typed(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    command.upgrade(_alembic(url), "0013")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for number, (action, tag, detail) in enumerate(OLD_ROWS, 1):
            conn.execute(
                sa.text(
                    "INSERT INTO outbox (id, at, action, repository, digest, tag, detail) "
                    "VALUES (:id, 1700000000.0, :action, 'app', :digest, :tag, :detail)"
                ),
                {
                    "id": number,
                    "action": action,
                    "digest": f"sha256:{number:064d}",
                    "tag": tag,
                    "detail": json.dumps(detail) if detail else None,
                },
            )
    engine.dispose()
    command.upgrade(_alembic(url), "head")

    async def read():
        store = SqlOutboxStore(create_engine(url))
        try:
            return await store.events_after(0, 100)
        finally:
            await store.engine.dispose()

    pushed, cached, restored, replicated, scanned, deleted = asyncio.run(read())
    assert isinstance(pushed, ImagePushed) and pushed.tag == "1.0" and pushed.artifact_media_type == "c"
    assert pushed.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert isinstance(cached, ImageCached) and (cached.rule_prefix, cached.upstream_url) == (
        "hub",
        "registry-1.docker.io",
    )
    assert isinstance(restored, StorageClassChanged) and restored.activated_at == 1_700_000_060.0
    assert isinstance(replicated, ImageReplicated) and not replicated.succeeded
    assert replicated.destination_region == "eu-west-1"
    assert isinstance(scanned, ImageScanned) and scanned.tags == ("a", "b") and scanned.severity_counts == {"HIGH": 1}
    assert deleted.KIND == "DELETE" and deleted.tag == "old"


def test_old_preview_results_read_back_by_field(tmp_path):
    """Migration 0015: a preview kept in ECR's previewResult structure reads back as PreviewResult."""
    from kikoto.domain.lifecycle import PreviewResult
    from kikoto.storage.meta.lifecycle import SqlLifecycleStore

    url = f"sqlite:///{tmp_path / 'k.db'}"
    command.upgrade(_alembic(url), "0014")
    engine = sa.create_engine(url)
    old = {
        "imageTags": ["v1"],
        "imageDigest": "sha256:" + "a" * 64,
        "imagePushedAt": 1_700_000_000.0,
        "action": {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"},
        "appliedRulePriority": 2,
        "storageClass": "STANDARD",
    }
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO repositories (id, name, created_at) VALUES (1, 'app', 0)"))
        conn.execute(
            sa.text(
                "INSERT INTO lifecycle_preview_results (repo_id, digest, pushed_at, tagged, result) "
                "VALUES (1, :digest, 1700000000.0, 1, :result)"
            ),
            {"digest": old["imageDigest"], "result": json.dumps(old)},
        )
    engine.dispose()
    command.upgrade(_alembic(url), "head")

    async def read():
        store = SqlLifecycleStore(create_engine(url))
        try:
            return await store.preview_page(1, None, 10)
        finally:
            await store.engine.dispose()

    assert asyncio.run(read()) == [
        PreviewResult(old["imageDigest"], ("v1",), 1_700_000_000.0, "TRANSITION", 2, "STANDARD")
    ]
    command.downgrade(_alembic(url), "0014")  # and back, to ECR's structure
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert json.loads(conn.execute(sa.text("SELECT result FROM lifecycle_preview_results")).scalar()) == old
    engine.dispose()


def test_old_creation_templates_read_back_by_field(tmp_path):
    """Migration 0016: a template kept in the API's shape reads back as a CreationTemplate."""
    from kikoto.domain.templates import CreationTemplate
    from kikoto.storage.meta.documents import SqlDocumentStore

    url = f"sqlite:///{tmp_path / 'k.db'}"
    command.upgrade(_alembic(url), "0015")
    old = {
        "prefix": "team",
        "appliedFor": ["CREATE_ON_PUSH", "REPLICATION"],
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest"}],
        "resourceTags": [{"Key": "team", "Value": "a"}],
        "encryptionConfiguration": {"encryptionType": "AES256"},
        "description": "the team's",
    }
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO creation_templates (prefix, body, created_at, updated_at) VALUES ('team', :b, 1, 2)"),
            {"b": json.dumps(old)},
        )
    engine.dispose()
    command.upgrade(_alembic(url), "head")

    async def read():
        store = SqlDocumentStore(create_engine(url))
        try:
            return await store.templates()
        finally:
            await store.engine.dispose()

    [template] = asyncio.run(read())
    assert template == CreationTemplate(
        prefix="team",
        applied_for=("CREATE_ON_PUSH", "REPLICATION"),
        description="the team's",
        encryption={"encryptionType": "AES256"},
        resource_tags=[{"Key": "team", "Value": "a"}],
        tag_mutability="IMMUTABLE_WITH_EXCLUSION",
        mutability_exclusions=[{"filterType": "WILDCARD", "filter": "latest"}],
        created_at=1.0,
        updated_at=2.0,
    )
    command.downgrade(_alembic(url), "0015")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert json.loads(conn.execute(sa.text("SELECT body FROM creation_templates")).scalar()) == old
    engine.dispose()
