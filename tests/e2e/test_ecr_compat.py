"""Where Kikötő used to answer differently from ECR (found by an outside ECR test suite), and the
operations added with them: each test pins ECR's answer, through boto3 against a real server."""

from __future__ import annotations

import datetime
import json
import re
import time

import pytest
import requests
from botocore.exceptions import ClientError

from ..helpers import image_manifest, sha256
from .conftest import Server, wait_until

pytestmark = pytest.mark.e2e
OTHER_ACCOUNT = "123456789012"
OCI = "application/vnd.oci.image.manifest.v1+json"


def error(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def push(server: Server, repo: str, tags: list[str], seed: str) -> str:
    session = requests.Session()
    session.headers.update(server.auth_headers())
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer {seed}".encode() * 50
    for blob in (config, layer):
        response = session.post(f"{server.url}/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", data=blob, timeout=10)
        assert response.status_code == 201
    body = image_manifest(config, [layer])
    for tag in tags:
        assert (
            session.put(
                f"{server.url}/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": OCI}, timeout=10
            ).status_code
            == 201
        )
    return sha256(body)


def test_another_registry_id_is_refused(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="mine", registryId="000000000000")  # its own id is fine
    assert error(lambda: ecr.describe_repositories(registryId=OTHER_ACCOUNT))[0] == "AccessDeniedException"
    code, message = error(lambda: ecr.create_repository(repositoryName="theirs", registryId=OTHER_ACCOUNT))
    assert code == "AccessDeniedException" and f":{OTHER_ACCOUNT}:repository/theirs" in message
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["mine"]
    arn = f"arn:aws:ecr:us-east-1:{OTHER_ACCOUNT}:repository/mine"
    assert error(lambda: ecr.list_tags_for_resource(resourceArn=arn))[0] == "AccessDeniedException"
    assert error(lambda: ecr.get_authorization_token(registryIds=[OTHER_ACCOUNT]))[0] == "AccessDeniedException"


def test_kms_without_a_key_names_the_aws_managed_key(server):
    ecr = server.ecr()
    created = ecr.create_repository(repositoryName="secret", encryptionConfiguration={"encryptionType": "KMS"})
    key = created["repository"]["encryptionConfiguration"]["kmsKey"]
    # ECR names the account's AWS-managed key by its key id, not by the alias
    assert re.fullmatch(r"arn:aws:kms:us-east-1:000000000000:key/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", key), key
    expected = {"encryptionType": "KMS", "kmsKey": key}
    assert created["repository"]["encryptionConfiguration"] == expected
    described = ecr.describe_repositories(repositoryNames=["secret"])["repositories"][0]
    assert described["encryptionConfiguration"] == expected
    other = ecr.create_repository(repositoryName="secret-2", encryptionConfiguration={"encryptionType": "KMS"})
    assert other["repository"]["encryptionConfiguration"]["kmsKey"] == key  # one key per account and region
    plain = ecr.create_repository(repositoryName="plain")["repository"]["encryptionConfiguration"]
    assert plain == {"encryptionType": "AES256"}


def test_put_image_needs_a_media_type(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="app")
    push(server, "app", ["base"], "x")
    manifest = json.loads(
        ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "base"}])["images"][0]["imageManifest"]
    )
    del manifest["mediaType"]
    text = json.dumps(manifest)
    assert error(lambda: ecr.put_image(repositoryName="app", imageManifest=text, imageTag="bare")) == (
        "InvalidParameterException",
        "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
    )
    put = ecr.put_image(repositoryName="app", imageManifest=text, imageTag="bare", imageManifestMediaType=OCI)
    assert put["image"]["imageManifestMediaType"] == OCI


def test_deleting_by_digest_names_every_tag_removed(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="app")
    digest = push(server, "app", ["v1", "v2", "latest"], "tags")
    deleted = ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageDigest": digest}])
    assert sorted(deleted["imageIds"], key=lambda i: i["imageTag"]) == [
        {"imageDigest": digest, "imageTag": t} for t in ("latest", "v1", "v2")
    ]
    assert deleted["failures"] == []


def test_lifecycle_policy_always_has_last_evaluated_at(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="app")
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    ecr.put_lifecycle_policy(repositoryName="app", lifecyclePolicyText=policy)
    epoch = datetime.datetime.fromtimestamp(0, datetime.UTC)
    assert ecr.get_lifecycle_policy(repositoryName="app")["lastEvaluatedAt"] == epoch
    assert ecr.delete_lifecycle_policy(repositoryName="app")["lastEvaluatedAt"] == epoch


def test_policy_and_arn_messages_are_ecrs(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="app")
    assert error(lambda: ecr.set_repository_policy(repositoryName="app", policyText='{"Statement": 5}')) == (
        "InvalidParameterException",
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'",
    )
    for arn in (
        "not-an-arn",
        "arn:aws:ecr:us-east-1:000000000000:repository/",
        "arn:aws:s3:::bucket",
        "arn:aws:ecr:eu-west-1:000000000000:repository/app",
    ):
        for call in (
            lambda arn=arn: ecr.list_tags_for_resource(resourceArn=arn),
            lambda arn=arn: ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k", "Value": "v"}]),
            lambda arn=arn: ecr.untag_resource(resourceArn=arn, tagKeys=["k"]),
        ):
            assert error(call) == ("InvalidParameterException", "The ARN provided is invalid."), arn


def test_account_settings_and_blob_mounting(server):
    ecr = server.ecr()
    setting = ecr.get_account_setting(name="BLOB_MOUNTING")
    assert (setting["name"], setting["value"]) == ("BLOB_MOUNTING", "ENABLED")
    assert ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V2"
    assert ecr.get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"] == "AWS_NATIVE"
    assert error(lambda: ecr.get_account_setting(name="NOPE"))[0] == "InvalidParameterException"
    assert error(lambda: ecr.put_account_setting(name="BLOB_MOUNTING", value="MAYBE"))[0] == "InvalidParameterException"
    for repo in ("source", "target"):
        ecr.create_repository(repositoryName=repo)
    blob = b"a shared layer" * 100
    session = requests.Session()
    session.headers.update(server.auth_headers())
    assert session.post(f"{server.url}/v2/source/blobs/uploads/?digest={sha256(blob)}", data=blob).status_code == 201
    mount = f"{server.url}/v2/target/blobs/uploads/?mount={sha256(blob)}&from=source"
    assert ecr.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")["value"] == "DISABLED"
    assert session.post(mount).status_code == 202  # no mount: the client uploads instead
    assert session.head(f"{server.url}/v2/target/blobs/{sha256(blob)}").status_code == 404
    ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    assert session.post(mount).status_code == 201
    assert session.head(f"{server.url}/v2/target/blobs/{sha256(blob)}").status_code == 200


def test_pull_time_update_exclusions(server):
    """A scanner or cache warmer that pulls must not keep images alive under sinceImagePulled."""
    ecr = server.ecr()
    ecr.create_repository(repositoryName="app")
    push(server, "app", ["v1"], "pulled")
    created = server.kikoto("keys", "create", "scanner", "--role", "read-only").stdout
    key = created.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
    secret = created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
    scanner_arn = "arn:aws:iam::000000000000:user/scanner"
    registered = ecr.register_pull_time_update_exclusion(principalArn=scanner_arn)
    assert registered["principalArn"] == scanner_arn and registered["createdAt"]
    assert (
        error(lambda: ecr.register_pull_time_update_exclusion(principalArn=scanner_arn))[0]
        == "ExclusionAlreadyExistsException"
    )
    assert ecr.list_pull_time_update_exclusions()["pullTimeUpdateExclusions"] == [scanner_arn]

    scanner = server.ecr(key, secret)
    scanner.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "v1"}])
    auth = {
        "Authorization": "Basic "
        + __import__("base64").b64encode(f"AWS:{server.password(key, secret)}".encode()).decode(),
        "Accept": OCI,
    }
    assert requests.get(f"{server.url}/v2/app/manifests/v1", headers=auth, timeout=5).status_code == 200

    # The admin is not excluded: its pull is recorded. Had the excluded pulls been recorded,
    # the pull time would predate the admin's pull (a pull time is written once a minute at most).
    admin_pulled = time.time()
    ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "v1"}])
    recorded = wait_until(
        lambda: ecr.describe_images(repositoryName="app")["imageDetails"][0].get("lastRecordedPullTime"),
        what="the admin's pull time",
    )
    assert recorded.timestamp() >= admin_pulled - 0.01, "an excluded principal's pull was recorded"

    assert ecr.deregister_pull_time_update_exclusion(principalArn=scanner_arn)["principalArn"] == scanner_arn
    assert (
        error(lambda: ecr.deregister_pull_time_update_exclusion(principalArn=scanner_arn))[0]
        == "ExclusionNotFoundException"
    )
    assert ecr.list_pull_time_update_exclusions()["pullTimeUpdateExclusions"] == []


def test_the_registry_policy_is_validated_as_a_repository_policy_is(server):
    ecr = server.ecr()
    invalid = "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'"
    statement = {"Sid": "r", "Effect": "Allow", "Resource": "arn:aws:ecr:us-east-1:000000000000:repository/*"}
    for broken in (
        "not json",
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{**statement, "Action": "ecr:ReplicateImage"}]}
        ),  # no Principal
        json.dumps({"Version": "2012-10-17", "Statement": [{**statement, "Principal": {"AWS": "111122223333"}}]}),
    ):
        assert error(lambda text=broken: ecr.put_registry_policy(policyText=text)) == (
            "InvalidParameterException",
            invalid,
        )
    assert error(lambda: ecr.get_registry_policy())[0] == "RegistryPolicyNotFoundException"
    good = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {**statement, "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["ecr:ReplicateImage"]}
            ],
        }
    )
    assert ecr.put_registry_policy(policyText=good)["policyText"] == good


def test_missing_images_and_scans_are_named_as_ecr_names_them(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="rr")
    digest = push(server, "rr", ["v1"], "named")
    missing = "sha256:" + "0" * 64
    where = "in the registry with id '000000000000'"
    by_tag = (
        f"The image with imageId {{imageDigest:'null', imageTag:'x'}} does not exist within the repository "
        f"with name 'rr' {where}"
    )
    by_digest = (
        f"The image with imageId {{imageDigest:'{missing}', imageTag:'null'}} does not exist within the repository "
        f"with name 'rr' {where}"
    )
    for call in (
        lambda: ecr.describe_images(repositoryName="rr", imageIds=[{"imageTag": "x"}]),
        lambda: ecr.start_image_scan(repositoryName="rr", imageId={"imageTag": "x"}),
        lambda: ecr.describe_image_scan_findings(repositoryName="rr", imageId={"imageTag": "x"}),
    ):
        assert error(call) == ("ImageNotFoundException", by_tag)
    assert error(lambda: ecr.describe_images(repositoryName="rr", imageIds=[{"imageDigest": missing}])) == (
        "ImageNotFoundException",
        by_digest,
    )
    # an image that exists but was never scanned (the repository scans manually)
    assert error(lambda: ecr.describe_image_scan_findings(repositoryName="rr", imageId={"imageDigest": digest})) == (
        "ScanNotFoundException",
        f"Image scan does not exist for the image with '{{imageDigest:'{digest}', imageTag:'null'}}' in the "
        f"repository with name 'rr' {where}",
    )
    assert error(lambda: ecr.describe_image_scan_findings(repositoryName="rr", imageId={"imageTag": "v1"})) == (
        "ScanNotFoundException",
        f"Image scan does not exist for the image with '{{imageDigest:'null', imageTag:'v1'}}' in the "
        f"repository with name 'rr' {where}",
    )


def test_start_image_scan_answers_in_progress_without_a_description(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="rr")
    digest = push(server, "rr", ["v1"], "scan-me")
    started = ecr.start_image_scan(repositoryName="rr", imageId={"imageTag": "v1"})
    assert started["imageScanStatus"] == {"status": "IN_PROGRESS"}
    assert started["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
