"""The README walkthrough, as written: the aws CLI, podman login, tag and push, describe, and a
Kubernetes-style pull secret used by skopeo. Then the same login through the Bearer token flow."""

from __future__ import annotations

import base64
import json

import pytest

from .conftest import Server
from .images import Layout

pytestmark = pytest.mark.e2e


def load_into_podman(podman, skopeo, tmp_path, seed: str, name: str) -> None:
    """podman cannot build here, so the local image comes from an OCI layout via skopeo."""
    layout = Layout(tmp_path / f"layout-{seed}")
    layout.tag(layout.image(seed, layers=2), "build")
    storage = f"containers-storage:[vfs@{podman.root}+{podman.runroot}]{name}"
    skopeo("copy", f"oci:{layout.root}:build", storage)


@pytest.fixture
def ecr_server(tmp_path):
    instance = Server(tmp_path / "data", env={"KIKOTO_CREATE_ON_PUSH": "false"}).start()
    yield instance
    instance.stop()


def test_readme_walkthrough(ecr_server, podman, skopeo, tmp_path):
    server = ecr_server
    created = json.loads(server.aws("ecr", "create-repository", "--repository-name", "node-app"))
    assert created["repository"]["repositoryUri"] == f"{server.host}/node-app"

    password = server.aws("ecr", "get-login-password").strip()
    login = podman("login", "--tls-verify=false", "--username", "AWS", "--password-stdin", server.host, stdin=password)
    assert "Login Succeeded" in login.stdout

    for version in ("1.0.0", "1.2.0"):
        load_into_podman(podman, skopeo, tmp_path, f"node-{version}", f"localhost/node-app:{version}")
        podman("tag", f"localhost/node-app:{version}", f"{server.host}/node-app:{version}")
        podman("push", "--tls-verify=false", f"{server.host}/node-app:{version}")
    podman("tag", "localhost/node-app:1.2.0", f"{server.host}/node-app:latest")
    podman("push", "--tls-verify=false", f"{server.host}/node-app:latest")

    details = json.loads(server.aws("ecr", "describe-images", "--repository-name", "node-app"))["imageDetails"]
    tags = sorted(tuple(sorted(d["imageTags"])) for d in details)
    assert tags == [("1.0.0",), ("1.2.0", "latest")]
    assert all(d["imageSizeInBytes"] > 0 for d in details)

    # Kubernetes: kubectl create secret docker-registry regcred --docker-server=HOST --docker-username=AWS
    #   --docker-password=$(aws ecr get-login-password) makes exactly this .dockerconfigjson
    secret = {
        "auths": {
            server.host: {
                "username": "AWS",
                "password": password,
                "auth": base64.b64encode(f"AWS:{password}".encode()).decode(),
            }
        }
    }
    authfile = tmp_path / "dockerconfig.json"
    authfile.write_text(json.dumps(secret))
    out = tmp_path / "pulled"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--authfile",
        str(authfile),
        f"docker://{server.host}/node-app:latest",
        f"oci:{out}:latest",
    )
    assert json.loads((out / "index.json").read_text())["manifests"]

    listed = json.loads(server.aws("ecr", "list-images", "--repository-name", "node-app"))["imageIds"]
    assert len(listed) == 3


def test_bearer_token_flow_with_podman_and_skopeo(tmp_path, podman, skopeo):
    server = Server(tmp_path / "data", env={"KIKOTO_AUTH_CHALLENGE": "bearer"}).start()
    try:
        import requests

        challenge = requests.get(f"{server.url}/v2/").headers["WWW-Authenticate"]
        assert challenge.startswith(f'Bearer realm="{server.url}/v2/token"')
        load_into_podman(podman, skopeo, tmp_path, "bearer", "localhost/bearer-app:1")
        podman("login", "--tls-verify=false", "--username", "AWS", "--password", server.password(), server.host)
        podman("tag", "localhost/bearer-app:1", f"{server.host}/bearer-app:1")
        podman("push", "--tls-verify=false", f"{server.host}/bearer-app:1")
        podman("rmi", "--all", "--force")
        podman("pull", "--tls-verify=false", f"{server.host}/bearer-app:1")
        inspected = json.loads(
            skopeo(
                "inspect", "--tls-verify=false", "--creds", server.creds, f"docker://{server.host}/bearer-app:1"
            ).stdout
        )
        assert inspected["Name"] == f"{server.host}/bearer-app"
        # a token only carries what was asked for and allowed
        token = requests.get(
            f"{server.url}/v2/token", params={"scope": "repository:bearer-app:pull"}, auth=("AWS", server.password())
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{server.url}/v2/bearer-app/tags/list", headers=headers).status_code == 200
        assert requests.post(f"{server.url}/v2/bearer-app/blobs/uploads/", headers=headers).status_code == 403
    finally:
        server.stop()
