"""Image events to webhook receivers: ECR's EventBridge shape, once per event id, signed,
filtered by EventBridge patterns, CloudEvents on request, and nothing lost while a receiver
fails for a while."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from .conftest import Server, wait_until
from .ecr_helpers import push
from .webhooks import Receiver

pytestmark = pytest.mark.e2e
FAST = {"KIKOTO_OUTBOX_INTERVAL": "0.1", "KIKOTO_EVENT_RETRY_CAP": "0.5", "KIKOTO_EVENT_MAX_ATTEMPTS": "1000"}


@pytest.fixture
def receivers():
    made: list[Receiver] = []
    yield lambda: made.append(Receiver()) or made[-1]
    for receiver in made:
        receiver.close()


def test_every_image_change_reaches_a_webhook_once_in_ecr_shape_and_signed(tmp_path, receivers):
    server = Server(tmp_path / "data", env=FAST).start()
    try:
        everything, deletes, cloud = receivers(), receivers(), receivers()
        pattern = tmp_path / "deletes.json"
        pattern.write_text(json.dumps({"source": ["aws.ecr"], "detail": {"action-type": ["DELETE"]}}))
        server.kikoto("events", "add-target", "all", "--url", everything.url, "--secret", "hook-secret")
        server.kikoto("events", "add-target", "deletes", "--url", deletes.url, "--pattern", str(pattern))
        server.kikoto("events", "add-target", "cloud", "--url", cloud.url, "--cloudevents")
        listed = server.kikoto("events", "list-targets").stdout
        assert "all" in listed and "hook-secret" not in listed

        ecr = server.ecr()
        ecr.create_repository(repositoryName="team/app")
        _, first = push(server, "team/app", "1.0", "one")
        _, second = push(server, "team/app", "2.0", "two")
        ecr.update_image_storage_class(
            repositoryName="team/app", imageId={"imageTag": "1.0"}, targetStorageClass="ARCHIVE"
        )
        ecr.update_image_storage_class(
            repositoryName="team/app", imageId={"imageTag": "1.0"}, targetStorageClass="STANDARD"
        )
        ecr.batch_delete_image(repositoryName="team/app", imageIds=[{"imageTag": "2.0"}])

        events = everything.wait_for(5)
        assert len(events) == 5
        assert len({e["id"] for e in events}) == 5  # once each
        push_event = events[0]
        assert {k: push_event[k] for k in ("version", "detail-type", "source", "account", "region", "resources")} == {
            "version": "0",
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": "000000000000",
            "region": "us-east-1",
            "resources": [],
        }
        assert push_event["detail"] == {
            "result": "SUCCESS",
            "repository-name": "team/app",
            "image-digest": first,
            "action-type": "PUSH",
            "image-tag": "1.0",
            "manifest-media-type": "application/vnd.oci.image.manifest.v1+json",
            "artifact-media-type": "application/vnd.oci.image.config.v1+json",
        }
        actions = [(e["detail"]["action-type"], e["detail"].get("target-storage-class")) for e in events]
        assert actions == [
            ("PUSH", None),
            ("PUSH", None),
            ("UPDATE_STORAGE_CLASS", "ARCHIVE"),
            ("UPDATE_STORAGE_CLASS", "STANDARD"),
            ("DELETE", None),
        ]
        restore = events[3]["detail"]
        assert restore["manifest-media-type"] == "application/vnd.oci.image.manifest.v1+json"
        assert restore["last-activated-at"].endswith("Z") and "last-activated-at" not in events[2]["detail"]
        assert events[4]["detail"]["image-digest"] == second and events[4]["detail"]["image-tag"] == "2.0"
        for headers, event in everything.received:  # signed: HMAC-SHA256 of the body with the target's secret
            expected = "sha256=" + hmac.new(b"hook-secret", event["raw"], hashlib.sha256).hexdigest()
            assert headers["X-Kikoto-Signature-256"] == expected
            assert headers["X-Kikoto-Event-Id"] == event["id"]

        # The DELETE is the last event: a target reads its events in order, so once it has the
        # DELETE it has passed every earlier one, and the pattern filtered them out.
        assert [e["detail"]["action-type"] for e in deletes.wait_for(1)] == ["DELETE"]
        assert len(deletes.events()) == 1
        cloud_events = cloud.wait_for(5)
        assert cloud_events[0]["specversion"] == "1.0" and cloud_events[0]["type"] == "aws.ecr.ECRImageAction"
        assert cloud_events[0]["data"]["detail"]["image-digest"] == first
        assert cloud.received[0][0]["Content-Type"] == "application/cloudevents+json"
    finally:
        server.stop()


def test_a_receiver_that_fails_for_a_while_gets_everything_in_order(tmp_path, receivers):
    server = Server(tmp_path / "data", env=FAST).start()
    try:
        hook = receivers()
        hook.failing = True
        server.kikoto("events", "add-target", "deploy", "--url", hook.url)
        server.ecr().create_repository(repositoryName="svc")
        digests = [push(server, "svc", f"v{n}", f"seed-{n}")[1] for n in range(4)]
        deadline = time.monotonic() + 10
        while hook.refused < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hook.refused >= 3 and not hook.received
        hook.failing = False  # the receiver recovers
        events = hook.wait_for(4)
        assert [e["detail"]["image-digest"] for e in events] == digests
        # the receiver has the events a moment before the worker records their deliveries
        wait_until(
            lambda: server.kikoto("events", "deliveries", "--target", "deploy").stdout.count("delivered") == 4,
            30,
            "four deliveries recorded as delivered",
        )
        assert server.kikoto("events", "deliveries", "--failed").stdout.splitlines()[1:] == ["(none)"]
    finally:
        server.stop()


def test_lifecycle_expiries_are_delete_events_and_dead_letters_can_be_redelivered(tmp_path, receivers):
    server = Server(
        tmp_path / "data", env={**FAST, "KIKOTO_EVENT_MAX_ATTEMPTS": "2", "KIKOTO_EVENT_RETRY_CAP": "0.1"}
    ).start()
    try:
        hook = receivers()
        pattern = tmp_path / "p.json"
        pattern.write_text(json.dumps({"detail": {"action-type": ["DELETE"], "repository-name": [{"prefix": "ci/"}]}}))
        server.kikoto("events", "add-target", "cleanup", "--url", hook.url, "--pattern", str(pattern))
        ecr = server.ecr()
        ecr.create_repository(repositoryName="ci/builds")
        for n in range(3):
            push(server, "ci/builds", f"b{n}", f"build-{n}")
        rule = {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}
        ecr.put_lifecycle_policy(
            repositoryName="ci/builds",
            lifecyclePolicyText=json.dumps(
                {"rules": [{"rulePriority": 1, "selection": rule, "action": {"type": "expire"}}]}
            ),
        )
        hook.failing = True
        server.kikoto("lifecycle", "run", "--yes")

        def dead_letters() -> list[str]:  # the listing's rows, under its header
            return server.kikoto("events", "deliveries", "--failed").stdout.strip().splitlines()[1:]

        wait_until(lambda: len(dead_letters()) >= 2, 15, "both expiries dead-lettered")
        failed = dead_letters()
        assert len(failed) == 2  # both expiries dead-lettered after two attempts
        hook.failing = False
        for line in failed:
            assert "delivered" in server.kikoto("events", "redeliver", line.split("\t")[0]).stdout
        events = hook.wait_for(2)
        assert sorted(e["detail"]["action-type"] for e in events) == ["DELETE", "DELETE"]
        assert {e["detail"]["repository-name"] for e in events} == {"ci/builds"}
    finally:
        server.stop()


def test_a_receiver_that_never_answers_delays_no_other_target(tmp_path, receivers):
    """Targets were delivered one after another: a receiver that never answered held every
    other receiver's events back for the delivery timeout (30.5 s)."""
    server = Server(tmp_path / "data", env=FAST).start()
    try:
        stuck, prompt = receivers(), receivers()
        stuck.hanging = True
        server.kikoto("events", "add-target", "stuck", "--url", stuck.url)
        server.kikoto("events", "add-target", "prompt", "--url", prompt.url)
        server.ecr().create_repository(repositoryName="svc")
        started = time.monotonic()
        digests = [push(server, "svc", f"v{n}", f"seed-{n}")[1] for n in range(3)]
        events = prompt.wait_for(3, seconds=20)
        assert [e["detail"]["image-digest"] for e in events] == digests
        assert time.monotonic() - started < 15, "the prompt receiver waited for the stuck one"
    finally:
        server.stop()
