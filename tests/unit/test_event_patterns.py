"""EventBridge event patterns, as EventBridge documents them, on ECR's image events."""

from __future__ import annotations

import json

import pytest

from kikoto.domain.events import OutboxEvent, PatternError, envelope, event_id, matches, parse_pattern

EVENT = envelope(
    OutboxEvent(7, 1_700_000_000.0, "PUSH", "team/app", "sha256:" + "a" * 64, "1.0", {"manifest-media-type": "x"}),
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
    assert EVENT["id"] == event_id("000000000000", OutboxEvent(7, 0, "PUSH", "x", "y", None))  # per outbox row
