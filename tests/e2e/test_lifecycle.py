"""Lifecycle end to end: images pushed with skopeo, a policy put with the aws CLI, previewed,
run, then pulled; the bytes on disk drop by what the preview announced. Archive and restore."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import VENV_BIN, Server
from .images import Layout

pytestmark = pytest.mark.e2e


def kikoto(server: Server, *args: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "kikoto"), *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env={**server.process_env, "COLUMNS": "200"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def blob_bytes(server: Server) -> int:
    return sum(p.stat().st_size for p in (server.data_dir / "blobs").rglob("*") if p.is_file())


@pytest.fixture
def server(tmp_path):
    instance = Server(tmp_path / "data", env={"KIKOTO_CREATE_ON_PUSH": "false"}).start()
    yield instance
    instance.stop()


def test_policy_preview_run_pull_and_reclaimed_bytes(server, skopeo, tmp_path):
    server.aws("ecr", "create-repository", "--repository-name", "team/api")
    layout = Layout(tmp_path / "src")
    versions = [f"1.{i}.0" for i in range(6)]
    for version in versions:
        layout.tag(layout.image(f"api-{version}", layers=2, layer_bytes=200_000), version)
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            server.creds,
            f"oci:{layout.root}:{version}",
            f"docker://{server.host}/team/api:{version}",
        )
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "keep last 3",
                    "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 3},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    server.aws("ecr", "put-lifecycle-policy", "--repository-name", "team/api", "--lifecycle-policy-text", policy)

    started = json.loads(server.aws("ecr", "start-lifecycle-policy-preview", "--repository-name", "team/api"))
    assert started["status"] == "COMPLETE"
    preview = json.loads(server.aws("ecr", "get-lifecycle-policy-preview", "--repository-name", "team/api"))
    expiring = sorted(tag for r in preview["previewResults"] for tag in r["imageTags"])
    assert expiring == versions[:3]
    assert preview["summary"]["expiringImageTotalCount"] == 3
    assert {r["action"]["type"] for r in preview["previewResults"]} == {"EXPIRE"}
    ecr = server.ecr()
    first = ecr.get_lifecycle_policy_preview(repositoryName="team/api", maxResults=2)
    assert len(first["previewResults"]) == 2 and first["nextToken"]
    rest = ecr.get_lifecycle_policy_preview(repositoryName="team/api", maxResults=2, nextToken=first["nextToken"])
    assert len(rest["previewResults"]) == 1 and "nextToken" not in rest
    assert (
        ecr.get_lifecycle_policy_preview(repositoryName="team/api", filter={"tagStatus": "UNTAGGED"})["previewResults"]
        == []
    )
    one = ecr.get_lifecycle_policy_preview(repositoryName="team/api", imageIds=[{"imageTag": versions[0]}])
    assert [r["imageTags"] for r in one["previewResults"]] == [[versions[0]]]

    dry = kikoto(server, "lifecycle", "run", "--dry-run", "--repository", "team/api")
    announced = int(re.search(r"team/api\s+│\s+6\s+│\s+3\s+│\s+0\s+│\s+3\s+│\s+(\d+)", dry).group(1))
    assert announced > 3 * 2 * 200_000 * 0.9  # three images' own layers (gzip'd tar of incompressible data)

    before = blob_bytes(server)
    kikoto(server, "lifecycle", "run", "--repository", "team/api")
    assert blob_bytes(server) == before  # expiry removes images; their bytes go with GC
    kikoto(server, "gc", "--grace-period", "0")
    print(f"\npreview announced {announced} bytes; disk dropped by {before - blob_bytes(server)} bytes")
    assert before - blob_bytes(server) == announced

    for version in versions[3:]:
        skopeo("inspect", "--tls-verify=false", "--creds", server.creds, f"docker://{server.host}/team/api:{version}")
    for version in versions[:3]:
        response = requests.get(f"{server.url}/v2/team/api/manifests/{version}", auth=("AWS", server.password()))
        assert response.status_code == 404
    evaluated = json.loads(server.aws("ecr", "get-lifecycle-policy", "--repository-name", "team/api"))
    assert "lastEvaluatedAt" in evaluated

    log = kikoto(server, "lifecycle", "log", "--repository", "team/api")
    assert log.count("EXPIRE") == 3
    events = requests.get(
        f"{server.url}/v2/_kikoto/audit", params={"repository": "team/api"}, auth=("AWS", server.password())
    ).json()["events"]
    assert sorted(tag for e in events if e["action"] == "EXPIRE" for tag in e["detail"]["tags"]) == versions[:3]
    assert all(e["detail"]["rulePriority"] == 1 for e in events if e["action"] == "EXPIRE")
    # the same log one event a page, by key: every event once, newest first
    paged, url = [], f"{server.url}/v2/_kikoto/audit?repository=team/api&limit=1"
    while url:
        response = requests.get(url, auth=("AWS", server.password()))
        paged += response.json()["events"]
        link = response.headers.get("Link")
        url = server.url + link.split(";")[0].strip("<>") if link else None
    assert [e["id"] for e in paged] == [e["id"] for e in events]
    assert [e["id"] for e in paged] == sorted((e["id"] for e in paged), reverse=True)


def test_archive_and_restore(server, skopeo, tmp_path):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="cold")
    layout = Layout(tmp_path / "src")
    layout.tag(layout.image("cold-1", layers=2), "v1")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        server.creds,
        f"oci:{layout.root}:v1",
        f"docker://{server.host}/cold:v1",
    )
    manifest = requests.get(f"{server.url}/v2/cold/manifests/v1", auth=("AWS", server.password())).json()
    layer = manifest["layers"][0]["digest"]

    result = ecr.update_image_storage_class(
        repositoryName="cold", imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
    )
    assert result["imageStatus"] == "ARCHIVED"
    detail = ecr.describe_images(repositoryName="cold")["imageDetails"][0]
    assert detail["imageStatus"] == "ARCHIVED" and "lastArchivedAt" in detail
    assert ecr.list_images(repositoryName="cold", filter={"imageStatus": "ARCHIVED"})["imageIds"]
    assert ecr.list_images(repositoryName="cold", filter={"imageStatus": "ACTIVE"})["imageIds"] == []
    assert (
        ecr.batch_check_layer_availability(repositoryName="cold", layerDigests=[layer])["layers"][0][
            "layerAvailability"
        ]
        == "ARCHIVED"
    )
    assert (server.data_dir / "archive" / "sha256" / layer[7:9] / layer[7:]).is_file()
    pulled = requests.get(f"{server.url}/v2/cold/manifests/v1", auth=("AWS", server.password()))
    assert pulled.status_code == 403
    assert "archived" in pulled.json()["errors"][0]["message"]
    assert requests.get(f"{server.url}/v2/cold/blobs/{layer}", auth=("AWS", server.password())).status_code == 403
    assert (
        ecr.batch_get_image(repositoryName="cold", imageIds=[{"imageTag": "v1"}])["failures"][0]["failureCode"]
        == "ImageInaccessible"
    )

    ecr.update_image_storage_class(repositoryName="cold", imageId={"imageTag": "v1"}, targetStorageClass="STANDARD")
    detail = ecr.describe_images(repositoryName="cold")["imageDetails"][0]
    assert detail["imageStatus"] == "ACTIVE" and "lastActivatedAt" in detail
    out = tmp_path / "out"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        server.creds,
        f"docker://{server.host}/cold:v1",
        f"oci:{out}:v1",
    )
    assert (out / "blobs" / "sha256" / layer[7:]).read_bytes() == layout.read(layer)


def test_lifecycle_policy_operations_and_errors(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="policies")
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "untagged after 14 days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 14,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    with pytest.raises(ClientError) as caught:
        ecr.get_lifecycle_policy(repositoryName="policies")
    assert caught.value.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"
    assert caught.value.response["Error"]["Message"] == (
        "Lifecycle policy does not exist for the repository with name 'policies' in the registry with id '000000000000'"
    )
    assert (
        ecr.put_lifecycle_policy(repositoryName="policies", lifecyclePolicyText=policy)["lifecyclePolicyText"] == policy
    )
    assert ecr.get_lifecycle_policy(repositoryName="policies")["lifecyclePolicyText"] == policy
    bad = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    with pytest.raises(ClientError) as caught:
        ecr.put_lifecycle_policy(repositoryName="policies", lifecyclePolicyText=bad)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert caught.value.response["Error"]["Message"] == (
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
        "'Lifecycle policy validation failure: numeric instance is lower than the required minimum "
        "(minimum: 1, found: 0)'"
    )
    with pytest.raises(ClientError) as caught:
        ecr.get_lifecycle_policy_preview(repositoryName="policies")
    assert caught.value.response["Error"]["Code"] == "LifecyclePolicyPreviewNotFoundException"
    assert ecr.delete_lifecycle_policy(repositoryName="policies")["lifecyclePolicyText"] == policy
    with pytest.raises(ClientError) as caught:
        ecr.start_lifecycle_policy_preview(repositoryName="policies")
    assert caught.value.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"


def test_creation_template_lifecycle_policy_applies(server):
    ecr = server.ecr()
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "keep 1",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    ecr.create_repository_creation_template(prefix="ci", appliedFor=["CREATE_ON_PUSH"], lifecyclePolicy=policy)
    from .ecr_helpers import push

    push(server, "ci/build", "a", "one")
    push(server, "ci/build", "b", "two")
    assert ecr.get_lifecycle_policy(repositoryName="ci/build")["lifecyclePolicyText"] == policy
    # over every repository the run shows each image's fate and asks first: no answer, no change
    asked = server.kikoto("lifecycle", "run", check=False)
    assert asked.returncode == 1 and "Act on 1 repositories as shown?" in asked.stdout, asked
    assert re.search(r"│ a\s+│.*│ expire\s+│ 1\b", asked.stdout), asked.stdout
    assert len(ecr.list_images(repositoryName="ci/build")["imageIds"]) == 2
    kikoto(server, "lifecycle", "run", "--yes")
    assert [i.get("imageTag") for i in ecr.list_images(repositoryName="ci/build")["imageIds"]] == ["b"]


def test_the_server_runs_lifecycle_in_the_background(tmp_path):
    import time

    from .ecr_helpers import push

    server = Server(tmp_path / "data", env={"KIKOTO_LIFECYCLE_INTERVAL": "3600"}).start()
    try:
        ecr = server.ecr()
        policy = json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "keep 1",
                        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                        "action": {"type": "expire"},
                    }
                ]
            }
        )
        ecr.create_repository(repositoryName="auto-clean")
        ecr.put_lifecycle_policy(repositoryName="auto-clean", lifecyclePolicyText=policy)
        push(server, "auto-clean", "old", "1")
        push(server, "auto-clean", "new", "2")
        deadline = time.monotonic() + 30  # the scheduler's first tick comes a few seconds after start
        while time.monotonic() < deadline and len(ecr.list_images(repositoryName="auto-clean")["imageIds"]) > 1:
            time.sleep(0.5)
        assert [i["imageTag"] for i in ecr.list_images(repositoryName="auto-clean")["imageIds"]] == ["new"]
        events = requests.get(f"{server.url}/v2/_kikoto/audit", auth=("AWS", server.password())).json()["events"]
        expired = [(e["actor"], e["action"]) for e in events if e["repository"] == "auto-clean"]
        assert expired[0] == ("lifecycle", "EXPIRE")  # then the pushes and the API's changes that came before
        assert ("lifecycle", "EXPIRE") not in expired[1:]
    finally:
        server.stop()


def test_admin_commands_storage_validate_as_of_and_rotate(server, tmp_path):
    from .ecr_helpers import push

    ecr = server.ecr()
    ecr.create_repository(repositoryName="aging")
    push(server, "aging", "v1", "a")
    policy = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "after 30 days",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 30,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    ecr.put_lifecycle_policy(repositoryName="aging", lifecyclePolicyText=policy)
    assert re.search(r"aging\s+│\s+1\s+│\s+0\s+│", kikoto(server, "lifecycle", "run", "--dry-run"))
    later = kikoto(server, "lifecycle", "run", "--as-of", "2099-01-01")  # implies --dry-run
    assert re.search(r"aging\s+│\s+1\s+│\s+1\s+│", later) and "preview" in later
    assert len(ecr.list_images(repositoryName="aging")["imageIds"]) == 1  # nothing was deleted

    assert re.search(r"aging\s+│\s+1\s+│", kikoto(server, "storage"))

    keep_last = tmp_path / "keep.json"
    keep_last.write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 5},
                        "action": {"type": "expire"},
                    }
                ]
            }
        )
    )
    result = subprocess.run(
        [str(VENV_BIN / "kikoto"), "lifecycle", "validate", str(keep_last)], capture_output=True, text=True
    )
    assert result.returncode == 0 and "valid: 1 rule" in result.stdout, result.stderr
    result = subprocess.run(
        [str(VENV_BIN / "kikoto"), "lifecycle", "validate", "--strict-ecr", str(keep_last)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "Lifecycle policy validation failure" in result.stderr, result.stderr

    created = kikoto(server, "keys", "create", "rotator", "--role", "read-only")
    old_key, old_secret = [line.split("=", 1)[1] for line in created.split() if "=" in line]
    rotated = kikoto(server, "keys", "rotate", old_key)
    new_key, new_secret = [line.split("=", 1)[1] for line in rotated.split() if line.startswith("AWS_")]
    assert server.ecr(new_key, new_secret).describe_repositories(repositoryNames=["aging"])["repositories"]
    with pytest.raises(ClientError) as caught:
        server.ecr(old_key, old_secret).describe_repositories()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert "Inactive" in kikoto(server, "keys", "list")
