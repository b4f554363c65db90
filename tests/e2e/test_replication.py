"""Replication between two Kikötő instances: what podman pushes to the first appears on the
second with identical digests (indexes, referrers, tags), deletions follow when asked, and
the peer converges after being down and after the source is killed with -9."""

from __future__ import annotations

import hashlib
import json
import signal
import time

import pytest
import requests
from botocore.exceptions import ClientError

from kikoto.domain.manifests import OCI_MANIFEST
from tests.conftest import require

from .conftest import ADMIN_KEY, ADMIN_SECRET, REGION, Server
from .ecr_helpers import push
from .images import Layout
from .upstreams import Distribution
from .webhooks import Receiver

pytestmark = pytest.mark.e2e
PEER_ACCOUNT = "111122223333"
FAST = {"KIKOTO_OUTBOX_INTERVAL": "0.1", "KIKOTO_REPLICATION_RETRY_CAP": "1"}
RULE = {
    "destinations": [{"region": REGION, "registryId": PEER_ACCOUNT}],
    "repositoryFilters": [{"filter": "team/", "filterType": "PREFIX_MATCH"}],
    "deleteReplication": {"enabled": True},
}


def peer_ecr(peer: Server):
    return peer.client("ecr")


def start_pair(tmp_path) -> tuple[Server, Server]:
    peer = Server(tmp_path / "peer", env={"KIKOTO_ACCOUNT_ID": PEER_ACCOUNT}).start()
    source = Server(tmp_path / "source", env=FAST).start()
    source.kikoto(
        "peers",
        "add",
        "--region",
        REGION,
        "--registry-id",
        PEER_ACCOUNT,
        "--url",
        peer.url,
        "--access-key-id",
        ADMIN_KEY,
        "--secret-access-key",
        ADMIN_SECRET,
    )
    return source, peer


def manifest_digest(server: Server, repository: str, reference: str) -> str | None:
    response = requests.head(
        f"{server.url}/v2/{repository}/manifests/{reference}",
        headers={**server.auth_headers(), "Accept": f"{OCI_MANIFEST}, application/vnd.oci.image.index.v1+json"},
    )
    return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None


def wait_until(check, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("did not converge in time")


def test_podman_pushes_replicate_with_identical_digests_and_deletions_follow(tmp_path, podman, skopeo):
    source, peer = start_pair(tmp_path)
    try:
        ecr = source.ecr()
        with pytest.raises(ClientError) as same:
            ecr.put_replication_configuration(
                replicationConfiguration={
                    "rules": [{"destinations": [{"region": REGION, "registryId": "000000000000"}]}]
                }
            )
        assert "cannot be the same as the source registry" in same.value.response["Error"]["Message"]
        peer_ecr(peer).create_repository_creation_template(
            prefix="team", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE"
        )
        ecr.put_replication_configuration(replicationConfiguration={"rules": [RULE]})
        assert ecr.describe_registry()["replicationConfiguration"]["rules"][0]["destinations"][0]["registryId"] == (
            PEER_ACCOUNT
        )

        layout = Layout(tmp_path / "images")
        index = layout.multi_arch("web")
        layout.tag(index, "1.0")
        layout.tag(layout.image("not-replicated"), "x")
        podman("login", "--tls-verify=false", "-u", "AWS", "--password-stdin", source.host, stdin=source.password())
        skopeo(
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            source.creds,
            f"oci:{layout.root}:1.0",
            f"docker://{source.host}/team/web:1.0",
        )
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            source.creds,
            f"oci:{layout.root}:x",
            f"docker://{source.host}/other/app:x",
        )
        # a referrer (a signature-like artifact) of the index
        empty = b"{}"
        requests.post(
            f"{source.url}/v2/team/web/blobs/uploads/?digest=sha256:{hashlib.sha256(empty).hexdigest()}",
            data=empty,
            headers=source.auth_headers(),
        ).raise_for_status()
        referrer = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example.sbom",
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": f"sha256:{hashlib.sha256(empty).hexdigest()}",
                    "size": 2,
                },
                "layers": [],
                "subject": {"mediaType": index["mediaType"], "digest": index["digest"], "size": index["size"]},
            }
        ).encode()
        referrer_digest = "sha256:" + hashlib.sha256(referrer).hexdigest()
        requests.put(
            f"{source.url}/v2/team/web/manifests/{referrer_digest}",
            data=referrer,
            headers={**source.auth_headers(), "Content-Type": OCI_MANIFEST},
        ).raise_for_status()

        wait_until(lambda: manifest_digest(peer, "team/web", "1.0") == index["digest"])
        wait_until(lambda: manifest_digest(peer, "team/web", referrer_digest) == referrer_digest)
        # podman pulls the replicated image from the peer: every child and layer arrived
        podman("login", "--tls-verify=false", "-u", "AWS", "--password-stdin", peer.host, stdin=peer.password())
        podman("pull", "--tls-verify=false", "--arch", "arm64", f"{peer.host}/team/web:1.0")
        referrers = requests.get(
            f"{peer.url}/v2/team/web/referrers/{index['digest']}", headers=peer.auth_headers()
        ).json()["manifests"]
        assert [r["digest"] for r in referrers] == [referrer_digest]
        assert manifest_digest(peer, "other/app", "x") is None  # outside the rule's filter
        destination = peer_ecr(peer).describe_repositories(repositoryNames=["team/web"])["repositories"][0]
        assert destination["imageTagMutability"] == "IMMUTABLE"  # the peer's REPLICATION template

        def complete() -> bool:
            statuses = ecr.describe_image_replication_status(repositoryName="team/web", imageId={"imageTag": "1.0"})
            return [s["status"] for s in statuses["replicationStatuses"]] == ["COMPLETE"]

        wait_until(complete)
        ecr.batch_delete_image(repositoryName="team/web", imageIds=[{"imageDigest": referrer_digest}])
        wait_until(lambda: manifest_digest(peer, "team/web", referrer_digest) is None)
    finally:
        source.stop()
        peer.stop()


def test_the_peer_converges_after_being_down_and_after_the_source_is_killed(tmp_path):
    source, peer = start_pair(tmp_path)
    try:
        source.ecr().put_replication_configuration(replicationConfiguration={"rules": [RULE]})
        source.ecr().create_repository(repositoryName="team/api")
        peer.stop()  # the peer goes down for a while
        pushed = {f"v{n}": push(source, "team/api", f"v{n}", f"api-{n}")[1] for n in range(6)}
        time.sleep(1.5)  # attempts fail and back off meanwhile
        source.kill(signal.SIGKILL)  # the source dies mid-replication, claims held
        peer.start()
        source.log.write_text("")
        source.start()

        def converged() -> bool:
            return all(manifest_digest(peer, "team/api", tag) == digest for tag, digest in pushed.items())

        wait_until(converged, 90)
        ecr = source.ecr()
        for tag in pushed:
            statuses = ecr.describe_image_replication_status(repositoryName="team/api", imageId={"imageTag": tag})
            assert [s["status"] for s in statuses["replicationStatuses"]] == ["COMPLETE"]
        # no duplicate work beyond retries: one manifest per image on the peer
        assert len(peer_ecr(peer).describe_images(repositoryName="team/api")["imageDetails"]) == len(pushed)
    finally:
        source.stop()
        peer.stop()


def test_a_backfill_replicates_what_existed_before_the_rule(tmp_path):
    source, peer = start_pair(tmp_path)
    try:
        ecr = source.ecr()
        ecr.create_repository(repositoryName="team/old")
        existing = [push(source, "team/old", f"o{n}", f"old-{n}")[1] for n in range(3)]
        ecr.put_replication_configuration(replicationConfiguration={"rules": [RULE]})
        peer.stop()  # the backfill stays in progress until the peer is back
        started = ecr.start_replication_backfill(destination={"region": REGION, "registryId": PEER_ACCOUNT})
        backfill_id = started["replicationBackfillId"]
        with pytest.raises(ClientError) as busy:
            ecr.start_replication_backfill(destination={"region": REGION, "registryId": PEER_ACCOUNT})
        assert busy.value.response["Error"]["Code"] == "ReplicationBackfillInProgressException"
        peer.log.write_text("")
        peer.start()

        def done() -> bool:
            answer = ecr.describe_replication_backfill_results(replicationBackfillId=backfill_id)
            return answer["status"] == "COMPLETE"

        wait_until(done)
        results = ecr.describe_replication_backfill_results(replicationBackfillId=backfill_id)
        assert results["progress"]["completedReplicationCount"] == 3
        assert sorted(r["imageId"]["imageDigest"] for r in results["results"]) == sorted(existing)
        assert all(manifest_digest(peer, "team/old", d) == d for d in existing)
        listed = ecr.list_replication_backfills()["backfills"]
        assert [b["replicationBackfillId"] for b in listed] == [backfill_id]
        with pytest.raises(ClientError) as stopped:
            ecr.stop_replication_backfill(replicationBackfillId=backfill_id)
        assert stopped.value.response["Error"]["Code"] == "ReplicationBackfillInvalidStatusException"

        # a backfill stopped while the peer is away stops: nothing of it is attempted afterwards
        peer.stop()
        second = ecr.start_replication_backfill(destination={"region": REGION, "registryId": PEER_ACCOUNT})
        halted = ecr.stop_replication_backfill(replicationBackfillId=second["replicationBackfillId"])
        assert halted["status"] == "STOPPED"
        results = ecr.describe_replication_backfill_results(replicationBackfillId=second["replicationBackfillId"])
        assert results["status"] == "STOPPED" and results["progress"]["completedReplicationCount"] == 0
        assert len(ecr.list_replication_backfills(maxResults=1)["backfills"]) == 1
        assert len(ecr.list_replication_backfills()["backfills"]) == 2

        # peers: listed without their secrets, and removable
        listed_peers = source.kikoto("peers", "list").stdout
        assert PEER_ACCOUNT in listed_peers and ADMIN_SECRET not in listed_peers
        source.kikoto("peers", "remove", "--region", REGION, "--registry-id", PEER_ACCOUNT)
        assert PEER_ACCOUNT not in source.kikoto("peers", "list").stdout
        assert (
            source.kikoto("peers", "remove", "--region", REGION, "--registry-id", PEER_ACCOUNT, check=False).returncode
            != 0
        )
    finally:
        source.stop()
        peer.stop()


def test_any_oci_registry_is_a_destination_and_replications_are_events(tmp_path):
    require(Distribution.available())
    distribution = Distribution(tmp_path / "distribution").start()
    source = Server(tmp_path / "source", env=FAST).start()
    hook = Receiver()
    try:
        source.kikoto(
            "peers",
            "add",
            "--kind",
            "oci",
            "--region",
            "eu-west-1",
            "--registry-id",
            "444455556666",
            "--url",
            distribution.url,
            "--access-key-id",
            distribution.user,
            "--secret-access-key",
            distribution.password,
        )
        pattern = tmp_path / "replications.json"
        pattern.write_text(json.dumps({"detail-type": ["ECR Replication Action"]}))
        source.kikoto("events", "add-target", "replications", "--url", hook.url, "--pattern", str(pattern))
        rule = {"destinations": [{"region": "eu-west-1", "registryId": "444455556666"}]}
        source.ecr().put_replication_configuration(replicationConfiguration={"rules": [rule]})
        source.ecr().create_repository(repositoryName="edge/app")
        _, digest = push(source, "edge/app", "stable", "edge")
        auth = tuple(distribution.creds.split(":", 1))

        def arrived() -> bool:
            response = requests.head(
                f"{distribution.url}/v2/edge/app/manifests/stable", auth=auth, headers={"Accept": OCI_MANIFEST}
            )
            return response.headers.get("Docker-Content-Digest") == digest

        wait_until(arrived)
        event = hook.wait_for(1)[0]
        assert event["detail-type"] == "ECR Replication Action"
        assert event["resources"] == ["arn:aws:ecr:us-east-1:000000000000:repository/edge/app"]
        assert {k: event["detail"][k] for k in ("result", "action-type", "image-digest", "source-account")} == {
            "result": "SUCCESS",
            "action-type": "REPLICATE",
            "image-digest": digest,
            "source-account": "000000000000",
        }
    finally:
        hook.close()
        source.stop()
        distribution.stop()
