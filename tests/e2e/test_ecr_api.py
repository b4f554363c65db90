"""Every implemented ECR operation through boto3 (real SigV4), with its errors and paging."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import botocore.auth
import pytest
import requests
from botocore.exceptions import ClientError

from ..helpers import sha256
from .conftest import ADMIN_KEY, VENV_BIN, Server, wait_until
from .ecr_helpers import push

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = Server(
        tmp_path_factory.mktemp("ecr") / "data", workers=2, env={"KIKOTO_CREATE_ON_PUSH": "false"}
    ).start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def ecr(server):
    return server.ecr()


def error_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def new_key(server: Server, name: str, role: str) -> tuple[str, str]:
    import subprocess

    out = subprocess.run(
        [str(VENV_BIN / "kikoto"), "keys", "create", name, "--role", role, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=server.process_env,
    )
    lines = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    return lines["AWS_ACCESS_KEY_ID"], lines["AWS_SECRET_ACCESS_KEY"]


# -- repositories -----------------------------------------------------------------------------


def test_create_describe_delete_repository(ecr, server):
    created = ecr.create_repository(
        repositoryName="team/node-app",
        tags=[{"Key": "team", "Value": "web"}],
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "AES256"},
    )["repository"]
    assert created["repositoryArn"] == "arn:aws:ecr:us-east-1:000000000000:repository/team/node-app"
    assert created["repositoryUri"] == f"{server.host}/team/node-app"
    assert created["imageTagMutability"] == "MUTABLE"
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    assert error_of(ecr.create_repository, repositoryName="team/node-app") == (
        "RepositoryAlreadyExistsException",
        "The repository with name 'team/node-app' already exists in the registry with id '000000000000'",
    )
    described = ecr.describe_repositories(repositoryNames=["team/node-app"])["repositories"]
    assert [r["repositoryName"] for r in described] == ["team/node-app"]
    assert ecr.list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"] == [{"Key": "team", "Value": "web"}]
    code, message = error_of(ecr.describe_repositories, repositoryNames=["missing"])
    assert code == "RepositoryNotFoundException"
    assert message == "The repository with name 'missing' does not exist in the registry with id '000000000000'"
    push(server, "team/node-app", "1.0.0", "a")
    assert error_of(ecr.delete_repository, repositoryName="team/node-app")[0] == "RepositoryNotEmptyException"
    deleted = ecr.delete_repository(repositoryName="team/node-app", force=True)["repository"]
    assert deleted["repositoryName"] == "team/node-app"
    assert error_of(ecr.describe_repositories, repositoryNames=["team/node-app"])[0] == "RepositoryNotFoundException"
    assert requests.get(f"{server.url}/v2/team/node-app/tags/list", auth=("AWS", server.password())).status_code == 404


def test_repository_names_and_parameters_are_validated(ecr):
    code, message = error_of(ecr.create_repository, repositoryName="Bad_Name")
    assert code == "InvalidParameterException"
    assert message.startswith(
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression"
    )
    assert error_of(ecr.create_repository, repositoryName="x" * 257)[0] == "InvalidParameterException"
    assert (
        error_of(ecr.create_repository, repositoryName="ok-name", imageTagMutability="SOMETIMES")[0]
        == "InvalidParameterException"
    )
    assert error_of(ecr.create_repository, repositoryName="ok-name", imageTagMutability="IMMUTABLE_WITH_EXCLUSION") == (
        "InvalidParameterException",
        "ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as IMMUTABLE_WITH_EXCLUSION",
    )
    assert error_of(ecr.describe_repositories, maxResults=1001)[0] == "InvalidParameterException"
    assert error_of(ecr.describe_repositories, repositoryNames=["a1"], maxResults=5)[0] == "InvalidParameterException"


def test_describe_repositories_paginates(ecr):
    for i in range(5):
        ecr.create_repository(repositoryName=f"page/repo-{i}")
    first = ecr.describe_repositories(maxResults=2)
    assert len(first["repositories"]) == 2 and first["nextToken"]
    names = [
        r["repositoryName"]
        for page in ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
        for r in page["repositories"]
    ]
    assert [n for n in names if n.startswith("page/")] == [f"page/repo-{i}" for i in range(5)]
    assert error_of(ecr.describe_repositories, nextToken="garbage!")[0] == "InvalidParameterException"


def test_resource_tags(ecr):
    arn = ecr.create_repository(repositoryName="tagged")["repository"]["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "3"}])
    ecr.untag_resource(resourceArn=arn, tagKeys=["b"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "a", "Value": "3"}]
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert error_of(ecr.tag_resource, resourceArn=arn, tags=too_many)[0] == "TooManyTagsException"
    assert (
        error_of(ecr.tag_resource, resourceArn=arn, tags=[{"Key": "k" * 129, "Value": "v"}])[0]
        == "InvalidTagParameterException"
    )
    assert (
        error_of(ecr.list_tags_for_resource, resourceArn="arn:aws:ecr:us-east-1:000000000000:repository/nope")[0]
        == "RepositoryNotFoundException"
    )
    assert error_of(ecr.list_tags_for_resource, resourceArn="not-an-arn")[0] == "InvalidParameterException"


def test_scanning_configuration(ecr):
    ecr.create_repository(repositoryName="scanned")
    result = ecr.put_image_scanning_configuration(
        repositoryName="scanned", imageScanningConfiguration={"scanOnPush": True}
    )
    assert result["imageScanningConfiguration"] == {"scanOnPush": True}
    described = ecr.describe_repositories(repositoryNames=["scanned"])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}


# -- tag mutability -----------------------------------------------------------------------------


def test_immutable_tags_on_v2_and_put_image(ecr, server):
    ecr.create_repository(repositoryName="immutable", imageTagMutability="IMMUTABLE")
    body, digest = push(server, "immutable", "1.0.0", "first")
    push(server, "immutable", "1.0.0", "first")  # the same image again is fine
    other, _ = push(server, "immutable", None, "second")
    response = requests.put(
        f"{server.url}/v2/immutable/manifests/1.0.0",
        data=other,
        auth=("AWS", server.password()),
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "TAG_INVALID"
    code, message = error_of(ecr.put_image, repositoryName="immutable", imageManifest=other.decode(), imageTag="1.0.0")
    assert code == "ImageTagAlreadyExistsException"
    assert "cannot be overwritten because the tag is immutable" in message
    code, message = error_of(ecr.put_image, repositoryName="immutable", imageManifest=body.decode(), imageTag="1.0.0")
    assert code == "ImageAlreadyExistsException"
    assert message == (
        f"Image with digest '{digest}' and tag '1.0.0' already exists in the repository with name "
        f"'immutable' in registry with id '000000000000'"
    )


def test_immutable_with_exclusion_lets_latest_move(ecr, server):
    ecr.create_repository(repositoryName="mostly-immutable")
    result = ecr.put_image_tag_mutability(
        repositoryName="mostly-immutable",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[
            {"filterType": "WILDCARD", "filter": "latest"},
            {"filterType": "WILDCARD", "filter": "dev-*"},
        ],
    )
    assert result["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    for seed in ("one", "two"):
        push(server, "mostly-immutable", "latest", seed)
        push(server, "mostly-immutable", "dev-1", seed)
    push(server, "mostly-immutable", "1.0", "one")
    other, _ = push(server, "mostly-immutable", None, "two")
    assert (
        error_of(ecr.put_image, repositoryName="mostly-immutable", imageManifest=other.decode(), imageTag="1.0")[0]
        == "ImageTagAlreadyExistsException"
    )


# -- images -------------------------------------------------------------------------------------


def test_list_describe_get_and_pull_time(ecr, server):
    ecr.create_repository(repositoryName="images")
    body_a, digest_a = push(server, "images", "1.0.0", "a")
    requests.put(
        f"{server.url}/v2/images/manifests/latest",
        data=body_a,
        auth=("AWS", server.password()),
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    _, digest_b = push(server, "images", None, "b")
    ids = ecr.list_images(repositoryName="images")["imageIds"]
    assert sorted((i["imageDigest"], i.get("imageTag")) for i in ids) == sorted(
        [(digest_a, "1.0.0"), (digest_a, "latest"), (digest_b, None)]
    )
    assert ecr.list_images(repositoryName="images", filter={"tagStatus": "UNTAGGED"})["imageIds"] == [
        {"imageDigest": digest_b}
    ]
    first = ecr.list_images(repositoryName="images", maxResults=1)
    assert len(first["imageIds"]) == 1 and "nextToken" in first

    detail = ecr.describe_images(repositoryName="images", imageIds=[{"imageTag": "1.0.0"}])["imageDetails"][0]
    manifest = json.loads(body_a)
    assert detail["imageDigest"] == digest_a
    assert sorted(detail["imageTags"]) == ["1.0.0", "latest"]
    assert detail["imageSizeInBytes"] == manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    assert detail["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert detail["artifactMediaType"] == "application/vnd.oci.image.config.v1+json"
    assert "lastRecordedPullTime" not in detail

    got = ecr.batch_get_image(repositoryName="images", imageIds=[{"imageTag": "1.0.0"}, {"imageTag": "nope"}])
    assert got["images"][0]["imageManifest"].encode() == body_a
    assert got["failures"][0]["failureCode"] == "ImageNotFound"
    detail = wait_until(  # the pull time is written in the background
        lambda: next(
            (
                d
                for d in ecr.describe_images(repositoryName="images", imageIds=[{"imageDigest": digest_a}])[
                    "imageDetails"
                ]
                if "lastRecordedPullTime" in d
            ),
            None,
        ),
        what="the pull time",
    )
    assert abs(detail["lastRecordedPullTime"].timestamp() - time.time()) < 60

    assert (
        error_of(ecr.describe_images, repositoryName="images", imageIds=[{"imageTag": "nope"}])[0]
        == "ImageNotFoundException"
    )
    assert len(ecr.describe_images(repositoryName="images", filter={"tagStatus": "TAGGED"})["imageDetails"]) == 1


def test_batch_delete_image_semantics(ecr, server):
    ecr.create_repository(repositoryName="deleting")
    body, digest = push(server, "deleting", "a", "x")
    auth = ("AWS", server.password())
    requests.put(
        f"{server.url}/v2/deleting/manifests/b",
        data=body,
        auth=auth,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    result = ecr.batch_delete_image(repositoryName="deleting", imageIds=[{"imageTag": "a"}])
    assert result["imageIds"] == [{"imageDigest": digest, "imageTag": "a"}]
    assert [i.get("imageTag") for i in ecr.list_images(repositoryName="deleting")["imageIds"]] == ["b"]
    result = ecr.batch_delete_image(
        repositoryName="deleting", imageIds=[{"imageTag": "b"}, {"imageTag": "zzz"}, {"imageDigest": "sha256:bad"}]
    )
    assert result["imageIds"] == [{"imageDigest": digest, "imageTag": "b"}]
    assert sorted(f["failureCode"] for f in result["failures"]) == ["ImageNotFound", "InvalidImageDigest"]
    assert ecr.list_images(repositoryName="deleting")["imageIds"] == []  # the last tag took the image with it
    _, other = push(server, "deleting", "c", "y")
    assert ecr.batch_delete_image(repositoryName="deleting", imageIds=[{"imageDigest": other}])["imageIds"] == [
        {"imageDigest": other, "imageTag": "c"}
    ]  # ECR names each tag the deletion removed
    # both tags of one image in one call: the first removes a tag, the second (now the last) the image
    body, digest = push(server, "deleting", "d", "z")
    requests.put(
        f"{server.url}/v2/deleting/manifests/e",
        data=body,
        auth=auth,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    result = ecr.batch_delete_image(repositoryName="deleting", imageIds=[{"imageTag": "d"}, {"imageTag": "e"}])
    assert result["imageIds"] == [{"imageDigest": digest, "imageTag": "d"}, {"imageDigest": digest, "imageTag": "e"}]
    assert ecr.describe_images(repositoryName="deleting")["imageDetails"] == []


def test_layer_api_push_pulls_with_skopeo(ecr, server, skopeo, tmp_path):
    ecr.create_repository(repositoryName="by-api")
    layer = hashlib.sha256(b"seed").digest() * 400_000  # 12.8 MB: two parts
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    for blob in (layer, config):
        upload = ecr.initiate_layer_upload(repositoryName="by-api")
        assert upload["partSize"] == 10 * 1024 * 1024
        offset = 0
        while offset < len(blob):
            part = blob[offset : offset + upload["partSize"]]
            sent = ecr.upload_layer_part(
                repositoryName="by-api",
                uploadId=upload["uploadId"],
                partFirstByte=offset,
                partLastByte=offset + len(part) - 1,
                layerPartBlob=part,
            )
            offset += len(part)
            assert sent["lastByteReceived"] == offset - 1
        done = ecr.complete_layer_upload(
            repositoryName="by-api", uploadId=upload["uploadId"], layerDigests=[sha256(blob)]
        )
        assert done["layerDigest"] == sha256(blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer), "size": len(layer)}
            ],
        }
    )
    put = ecr.put_image(repositoryName="by-api", imageManifest=manifest, imageTag="v1")
    assert put["image"]["imageId"] == {"imageDigest": sha256(manifest.encode()), "imageTag": "v1"}

    availability = ecr.batch_check_layer_availability(
        repositoryName="by-api", layerDigests=[sha256(layer), sha256(b"nope"), "bad"]
    )
    assert [layer["layerAvailability"] for layer in availability["layers"]] == ["AVAILABLE", "UNAVAILABLE"]
    assert availability["layers"][0]["layerSize"] == len(layer)
    assert availability["failures"][0]["failureCode"] == "InvalidLayerDigest"

    url = ecr.get_download_url_for_layer(repositoryName="by-api", layerDigest=sha256(layer))["downloadUrl"]
    assert requests.get(url).content == layer  # presigned: no credentials needed
    assert requests.get(url.replace("Signature=", "Signature=0")).status_code == 401

    out = tmp_path / "out"
    skopeo(
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        server.creds,
        f"docker://{server.host}/by-api:v1",
        f"oci:{out}:v1",
    )
    assert (out / "blobs" / "sha256" / sha256(layer)[7:]).read_bytes() == layer


def test_layer_api_errors(ecr, server):
    ecr.create_repository(repositoryName="layer-errors")
    upload = ecr.initiate_layer_upload(repositoryName="layer-errors")["uploadId"]
    code = error_of(
        ecr.upload_layer_part,
        repositoryName="layer-errors",
        uploadId=upload,
        partFirstByte=5,
        partLastByte=9,
        layerPartBlob=b"12345",
    )[0]
    assert code == "InvalidLayerPartException"
    assert (
        error_of(
            ecr.complete_layer_upload, repositoryName="layer-errors", uploadId=upload, layerDigests=[sha256(b"x")]
        )[0]
        == "EmptyUploadException"
    )
    ecr.upload_layer_part(
        repositoryName="layer-errors", uploadId=upload, partFirstByte=0, partLastByte=4, layerPartBlob=b"12345"
    )
    assert (
        error_of(
            ecr.complete_layer_upload, repositoryName="layer-errors", uploadId=upload, layerDigests=[sha256(b"other")]
        )[0]
        == "InvalidLayerException"
    )
    unknown = "00000000-0000-0000-0000-000000000000"
    assert (
        error_of(
            ecr.upload_layer_part,
            repositoryName="layer-errors",
            uploadId=unknown,
            partFirstByte=0,
            partLastByte=0,
            layerPartBlob=b"1",
        )[0]
        == "UploadNotFoundException"
    )
    push(server, "layer-errors", "v1", "e")
    config_digest = json.loads(
        requests.get(f"{server.url}/v2/layer-errors/manifests/v1", auth=("AWS", server.password())).content
    )["config"]["digest"]
    assert (
        error_of(ecr.get_download_url_for_layer, repositoryName="layer-errors", layerDigest=sha256(b"missing"))[0]
        == "LayersNotFoundException"
    )
    assert (
        ecr.get_download_url_for_layer(repositoryName="layer-errors", layerDigest=config_digest)["layerDigest"]
        == config_digest
    )
    missing_layers = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "x", "digest": sha256(b"no"), "size": 2},
            "layers": [],
        }
    )
    assert (
        error_of(ecr.put_image, repositoryName="layer-errors", imageManifest=missing_layers, imageTag="broken")[0]
        == "LayersNotFoundException"
    )
    assert (
        error_of(
            ecr.put_image, repositoryName="layer-errors", imageManifest=missing_layers, imageDigest=sha256(b"not it")
        )[0]
        == "ImageDigestDoesNotMatchException"
    )


def test_list_image_referrers(ecr, server):
    ecr.create_repository(repositoryName="with-referrers")
    body, digest = push(server, "with-referrers", "v1", "s")
    auth = ("AWS", server.password())
    requests.post(f"{server.url}/v2/with-referrers/blobs/uploads/?digest={sha256(b'{}')}", data=b"{}", auth=auth)
    signature = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": len(body)},
        }
    ).encode()
    response = requests.put(
        f"{server.url}/v2/with-referrers/manifests/{sha256(signature)}",
        data=signature,
        auth=auth,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status_code == 201
    referrers = ecr.list_image_referrers(repositoryName="with-referrers", subjectId={"imageDigest": digest})[
        "referrers"
    ]
    assert [(r["digest"], r["artifactType"]) for r in referrers] == [
        (sha256(signature), "application/vnd.example.signature")
    ]
    none = ecr.list_image_referrers(
        repositoryName="with-referrers",
        subjectId={"imageDigest": digest},
        filter={"artifactTypes": ["application/other"]},
    )["referrers"]
    assert none == []


# -- repository creation templates --------------------------------------------------------------


def test_push_to_missing_repository_fails_unless_a_template_applies(ecr, server):
    response = requests.post(f"{server.url}/v2/nowhere/app/blobs/uploads/", auth=("AWS", server.password()))
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN"

    created = ecr.create_repository_creation_template(
        prefix="auto",
        appliedFor=["CREATE_ON_PUSH"],
        imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "made-by", "Value": "template"}],
        description="auto-created",
    )
    assert created["repositoryCreationTemplate"]["prefix"] == "auto"
    assert (
        error_of(ecr.create_repository_creation_template, prefix="auto", appliedFor=["CREATE_ON_PUSH"])[0]
        == "TemplateAlreadyExistsException"
    )
    push(server, "auto/service", "v1", "t")
    repo = ecr.describe_repositories(repositoryNames=["auto/service"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [
        {"Key": "made-by", "Value": "template"}
    ]

    updated = ecr.update_repository_creation_template(prefix="auto", description="changed")
    assert updated["repositoryCreationTemplate"]["description"] == "changed"
    assert updated["repositoryCreationTemplate"]["imageTagMutability"] == "IMMUTABLE"
    listed = ecr.describe_repository_creation_templates(prefixes=["auto"])["repositoryCreationTemplates"]
    assert [t["prefix"] for t in listed] == ["auto"]
    assert ecr.delete_repository_creation_template(prefix="auto")["repositoryCreationTemplate"]["prefix"] == "auto"
    assert error_of(ecr.delete_repository_creation_template, prefix="auto")[0] == "TemplateNotFoundException"
    assert (
        error_of(ecr.update_repository_creation_template, prefix="auto", description="x")[0]
        == "TemplateNotFoundException"
    )


# -- registry ------------------------------------------------------------------------------------


def test_authorization_token_and_registry(ecr, server):
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":")  # exactly one ':'
    assert user == "AWS"
    assert data["proxyEndpoint"] == server.url
    assert 11.9 * 3600 < data["expiresAt"].timestamp() - time.time() <= 12 * 3600
    assert requests.get(f"{server.url}/v2/", auth=("AWS", password)).status_code == 200
    assert ecr.describe_registry()["registryId"] == "000000000000"

    assert error_of(ecr.get_registry_policy)[0] == "RegistryPolicyNotFoundException"
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:ReplicateImage", "Resource": "*"}],
        }
    )
    assert ecr.put_registry_policy(policyText=policy)["policyText"] == policy
    assert ecr.get_registry_policy()["policyText"] == policy
    assert ecr.delete_registry_policy()["policyText"] == policy
    assert error_of(ecr.delete_registry_policy)[0] == "RegistryPolicyNotFoundException"


def test_every_ecr_operation_is_answered_and_secret_values_never_are(server):
    from kikoto.app import FEATURES
    from kikoto.http.ecr.operations import OPERATIONS
    from kikoto.http.ecr.validation import service_model

    answered = [*OPERATIONS, *(name for feature in FEATURES for name in feature.OPERATIONS)]
    assert len(answered) == len(set(answered)) and set(answered) == set(service_model().operation_names)  # all 62
    secrets = server.client("secretsmanager")
    code, message = error_of(secrets.get_secret_value, SecretId="anything")
    assert code == "InvalidRequestException" and "GetSecretValue" in message


# -- identity, signatures and policies -------------------------------------------------------------


def test_signature_failures(server, monkeypatch):
    response = requests.post(
        server.url + "/",
        data="{}",
        headers={
            "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert response.status_code == 403
    assert response.json()["__type"] == "MissingAuthenticationTokenException"
    assert "x-amzn-RequestId" in response.headers

    assert error_of(server.ecr("AKIAUNKNOWN000000000", "x").describe_repositories)[0] == "UnrecognizedClientException"
    assert error_of(server.ecr(ADMIN_KEY, "wrong-secret").describe_repositories)[0] == "InvalidSignatureException"

    import datetime

    stale = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: stale.replace(tzinfo=None))
    code, message = error_of(server.ecr().describe_repositories)
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature expired:")


def test_policies_on_both_faces_and_revocation(ecr, server):
    ecr.create_repository(repositoryName="guarded")
    push(server, "guarded", "v1", "g")
    key, secret = new_key(server, "reader", "read-only")
    reader = server.ecr(key, secret)
    assert [r["repositoryName"] for r in reader.describe_repositories(repositoryNames=["guarded"])["repositories"]] == [
        "guarded"
    ]
    code, message = error_of(reader.create_repository, repositoryName="not-allowed")
    assert code == "AccessDeniedException"
    assert "arn:aws:iam::000000000000:user/reader is not authorized to perform: ecr:CreateRepository" in message

    password = server.password(key, secret)
    assert requests.get(f"{server.url}/v2/guarded/manifests/v1", auth=("AWS", password)).status_code == 200
    denied = requests.post(f"{server.url}/v2/guarded/blobs/uploads/", auth=("AWS", password))
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["code"] == "DENIED"

    # an explicit Deny in the repository policy beats the identity policy's Allow
    ecr.set_repository_policy(
        repositoryName="guarded",
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": {"AWS": "arn:aws:iam::000000000000:user/reader"},
                        "Action": "ecr:BatchGetImage",
                    }
                ],
            }
        ),
    )
    assert requests.get(f"{server.url}/v2/guarded/manifests/v1", auth=("AWS", password)).status_code == 403
    assert (
        json.loads(ecr.get_repository_policy(repositoryName="guarded")["policyText"])["Statement"][0]["Effect"]
        == "Deny"
    )
    ecr.delete_repository_policy(repositoryName="guarded")
    assert error_of(ecr.get_repository_policy, repositoryName="guarded")[0] == "RepositoryPolicyNotFoundException"
    assert (
        error_of(ecr.set_repository_policy, repositoryName="guarded", policyText="{not json")[0]
        == "InvalidParameterException"
    )

    import subprocess

    subprocess.run(
        [str(VENV_BIN / "kikoto"), "keys", "revoke", key, "--data-dir", str(server.data_dir)],
        check=True,
        capture_output=True,
        env=server.process_env,
    )
    assert error_of(reader.describe_repositories)[0] == "UnrecognizedClientException"
    assert requests.get(f"{server.url}/v2/guarded/manifests/v1", auth=("AWS", password)).status_code == 401


def test_v2_requires_credentials_and_refuses_bad_ones(server):
    for auth in [None, ("AWS", "garbage"), ("someone", server.password())]:
        response = requests.get(f"{server.url}/v2/", auth=auth)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_expired_login_token_is_refused(server):
    from kikoto.services.identity import Identities, Principal
    from kikoto.services.keys import Keys

    master = (server.data_dir / "master.key").read_bytes().strip()
    expired, _ = Identities(None, Keys(master), "000000000000").issue(Principal("admin", "x", ADMIN_KEY, ()), ttl=-60)
    response = requests.get(f"{server.url}/v2/", auth=("AWS", expired))
    assert response.status_code == 401
    assert "expired" in response.json()["errors"][0]["message"]


def test_public_repository_allows_anonymous_pull(ecr, server):
    ecr.create_repository(repositoryName="public-app")
    push(server, "public-app", "v1", "p")
    assert requests.get(f"{server.url}/v2/public-app/manifests/v1").status_code == 401
    ecr.set_repository_policy(
        repositoryName="public-app",
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "public",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    }
                ],
            }
        ),
    )
    response = requests.get(f"{server.url}/v2/public-app/manifests/v1")
    assert response.status_code == 200
    layer = response.json()["layers"][0]["digest"]
    assert requests.get(f"{server.url}/v2/public-app/blobs/{layer}").status_code == 200
    assert requests.post(f"{server.url}/v2/public-app/blobs/uploads/").status_code == 401
