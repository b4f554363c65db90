"""EventBridge event patterns, as EventBridge documents them, on ECR's image events."""

from __future__ import annotations

import json

import pytest

from kikoto.domain.events import (
    KINDS,
    ImageCached,
    ImageDeleted,
    ImagePushed,
    ImageReplicated,
    ImageScanned,
    StorageClassChanged,
    change_of,
    facts,
)
from kikoto.features.events.bridge import envelope, event_id
from kikoto.features.events.patterns import PatternError, matches, parse_pattern

DIGEST = "sha256:" + "a" * 64
EVENT = envelope(
    ImagePushed(
        id=7, at=1_700_000_000.0, repository="team/app", digest="sha256:" + "a" * 64, tag="1.0", media_type="x"
    ),
    "000000000000",
    "us-east-1",
    "arn:aws:ecr:us-east-1:000000000000:repository/team/app",
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.ecr"]}, True),
        ({"source": ["aws.s3"]}, False),
        ({"detail-type": ["ECR Image Action"], "detail": {"action-type": ["PUSH", "DELETE"]}}, True),
        ({"detail": {"action-type": ["DELETE"]}}, False),
        ({"detail": {"repository-name": [{"prefix": "team/"}]}}, True),
        ({"detail": {"repository-name": [{"prefix": "ops/"}]}}, False),
        ({"detail": {"image-tag": [{"anything-but": "latest"}]}}, True),
        ({"detail": {"image-tag": [{"anything-but": ["1.0", "2.0"]}]}}, False),
        ({"detail": {"image-tag": [{"anything-but": {"prefix": "1."}}]}}, False),
        ({"detail": {"image-tag": [{"exists": True}]}}, True),
        ({"detail": {"scan-status": [{"exists": False}]}}, True),
        ({"detail": {"scan-status": [{"exists": True}]}}, False),
        ({"detail": {"repository-name": [{"suffix": "/app"}]}}, True),
        ({"detail": {"result": [{"equals-ignore-case": "success"}]}}, True),
        ({"account": [{"numeric": [">", 0]}]}, False),  # account is a string, numeric never matches it
        ({"detail": {"missing": ["x"]}}, False),
        ({"region": ["us-east-1"], "detail": {"image-tag": ["1.0"]}}, True),
    ],
)
def test_patterns_match_as_eventbridge_matches(pattern, expected):
    assert matches(parse_pattern(json.dumps(pattern)), EVENT) is expected


def test_numeric_ranges():
    pattern = parse_pattern(json.dumps({"n": [{"numeric": [">=", 10, "<", 20]}]}))
    assert matches(pattern, {"n": 10}) and matches(pattern, {"n": 19.5})
    assert not matches(pattern, {"n": 20}) and not matches(pattern, {"n": "15"})


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", "{}", '{"source": "aws.ecr"}', '{"source": []}', '{"source": [{"regex": ".*"}]}'],
)
def test_bad_patterns_are_refused_with_a_reason(text):
    with pytest.raises(PatternError):
        parse_pattern(text)


def test_the_envelope_is_ecrs_and_its_id_is_stable():
    assert EVENT["detail-type"] == "ECR Image Action" and EVENT["resources"] == []
    assert EVENT["time"] == "2023-11-14T22:13:20Z"
    assert EVENT["id"] == event_id("000000000000", ImagePushed(id=7, repository="x", digest="y"))  # per outbox row


IMAGE = {"repository": "team/app", "digest": DIGEST, "id": 3, "at": 1_700_000_000.0}
CHANGES = [
    ImagePushed(**IMAGE, tag="1.0", media_type="application/vnd.oci.image.manifest.v1+json"),
    ImageCached(**IMAGE, rule_prefix="hub", upstream_url="registry-1.docker.io"),
    ImageDeleted(**IMAGE),
    StorageClassChanged(**IMAGE, storage_class="STANDARD", activated_at=1_700_000_060.0, media_type="m"),
    ImageReplicated(**IMAGE, succeeded=False, source_account="1", source_region="a", destination_region="b"),
    ImageScanned(**IMAGE, severity_counts={"HIGH": 2}, tags=("1.0", "latest")),
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.KIND)
def test_a_change_reads_back_as_it_was_recorded(change):
    stored = json.loads(json.dumps(facts(change)))  # through the outbox's JSON column
    assert change_of(change.KIND, change.repository, change.digest, change.tag, stored, change.id, change.at) == change
    assert set(KINDS) == {c.KIND for c in CHANGES}


def test_each_kind_has_ecrs_event_detail():
    details = {c.KIND: envelope(c, "000000000000", "us-east-1", "arn")["detail"] for c in CHANGES}
    assert details["PUSH"] == {
        "result": "SUCCESS",
        "repository-name": "team/app",
        "image-digest": DIGEST,
        "action-type": "PUSH",
        "manifest-media-type": "application/vnd.oci.image.manifest.v1+json",
        "image-tag": "1.0",
    }
    assert details["PULL_THROUGH_CACHE"] == {
        "sync-status": "SUCCESS",
        "repository-name": "team/app",
        "ecr-repository-prefix": "hub",
        "upstream-registry-url": "registry-1.docker.io",
        "image-digest": DIGEST,
    }
    assert details["DELETE"] == {
        "result": "SUCCESS",
        "repository-name": "team/app",
        "image-digest": DIGEST,
        "action-type": "DELETE",
    }
    assert details["UPDATE_STORAGE_CLASS"]["target-storage-class"] == "STANDARD"
    assert details["UPDATE_STORAGE_CLASS"]["last-activated-at"] == "2023-11-14T22:14:20Z"
    assert details["REPLICATE"]["result"] == "FAILURE" and details["REPLICATE"]["destination-region"] == "b"
    assert details["SCAN"] == {
        "scan-status": "COMPLETE",
        "repository-name": "team/app",
        "finding-severity-counts": {"HIGH": 2},
        "image-digest": DIGEST,
        "image-tags": ["1.0", "latest"],
    }
