"""skopeo, podman and oras against a real `kikoto serve`."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests

from kikoto.domain.manifests import OCI_INDEX

from ..certificates import self_signed
from .conftest import ADMIN_KEY, ADMIN_SECRET, Server
from .images import Layout

pytestmark = pytest.mark.e2e


def test_skopeo_round_trip_is_byte_identical(server, skopeo, tmp_path):
    source = Layout(tmp_path / "src")
    image = source.image("python-app", layers=5)
    source.tag(image, "1.0.0")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        server.creds,
        f"oci:{source.root}:1.0.0",
        f"docker://{server.host}/team/python-app:1.0.0",
    )

    raw = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        server.creds,
        f"docker://{server.host}/team/python-app:1.0.0",
    ).stdout
    assert raw.encode() == source.read(image["digest"])

    out = tmp_path / "out"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        server.creds,
        f"docker://{server.host}/team/python-app:1.0.0",
        f"oci:{out}:copy",
    )
    back = json.loads((out / "index.json").read_text())["manifests"][0]
    assert back["digest"] == image["digest"]
    manifest = json.loads(source.read(image["digest"]))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        blob = (out / "blobs" / "sha256" / descriptor["digest"].split(":")[1]).read_bytes()
        assert blob == source.read(descriptor["digest"])


def test_multi_arch_index_round_trips(server, skopeo, tmp_path):
    source = Layout(tmp_path / "src")
    index = source.multi_arch("node-app")
    source.tag(index, "latest")
    skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        server.creds,
        f"oci:{source.root}:latest",
        f"docker://{server.host}/node-app:latest",
    )
    raw = requests.get(
        f"{server.url}/v2/node-app/manifests/latest", headers={"Accept": OCI_INDEX}, auth=("AWS", server.password())
    )
    assert raw.headers["Content-Type"] == OCI_INDEX
    assert raw.content == source.read(index["digest"])
    for arch in ("amd64", "arm64"):
        inspected = json.loads(
            skopeo(
                "inspect",
                "--tls-verify=false",
                "--creds",
                server.creds,
                "--override-arch",
                arch,
                f"docker://{server.host}/node-app:latest",
            ).stdout
        )
        assert inspected["Architecture"] == arch
    out = tmp_path / "out"
    skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        server.creds,
        f"docker://{server.host}/node-app:latest",
        f"oci:{out}:x",
    )
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == index["digest"]


def test_podman_pulls_tags_and_pushes(server, skopeo, podman, tmp_path):
    source = Layout(tmp_path / "src")
    image = source.image("podman-app", layers=3)
    source.tag(image, "1.2.0")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        server.creds,
        f"oci:{source.root}:1.2.0",
        f"docker://{server.host}/apps/web:1.2.0",
    )

    podman("login", "--tls-verify=false", "--username", "AWS", "--password", server.password(), server.host)
    podman("pull", "--tls-verify=false", f"{server.host}/apps/web:1.2.0")
    podman("tag", f"{server.host}/apps/web:1.2.0", f"{server.host}/apps/web-copy:latest")
    podman("push", "--tls-verify=false", f"{server.host}/apps/web-copy:latest")

    auth = ("AWS", server.password())
    tags = requests.get(f"{server.url}/v2/apps/web-copy/tags/list", auth=auth).json()
    assert tags == {"name": "apps/web-copy", "tags": ["latest"]}
    pushed = requests.get(
        f"{server.url}/v2/apps/web-copy/manifests/latest",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
        },
        auth=auth,
    ).json()
    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", f"{server.host}/apps/web-copy:latest")
    images = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert f"{server.host}/apps/web-copy:latest" in images
    assert len(pushed["layers"]) == 3


def test_oras_pushes_an_artifact_with_a_subject_found_through_referrers(server, skopeo, tmp_path, monkeypatch):
    oras_client = pytest.importorskip("oras.client")
    import oras.oci

    source = Layout(tmp_path / "src")
    image = source.image("signed-app")
    source.tag(image, "v1")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        server.creds,
        f"oci:{source.root}:v1",
        f"docker://{server.host}/signed-app:v1",
    )

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sbom.json").write_text(json.dumps({"bomFormat": "CycloneDX", "components": []}))
    client = oras_client.OrasClient(hostname=server.host, insecure=True, auth_backend="basic")
    client.login(
        username="AWS",
        password=server.password(),
        hostname=server.host,
        tls_verify=False,
        config_path=str(tmp_path / "oras-auth.json"),
    )
    subject = oras.oci.Subject(mediaType=image["mediaType"], digest=image["digest"], size=image["size"])
    response = client.push(
        target=f"{server.host}/signed-app:sbom",
        files=["sbom.json:application/vnd.cyclonedx+json"],
        subject=subject,
        manifest_annotations={"org.example.kind": "sbom"},
    )
    assert response.status_code == 201
    assert response.headers["OCI-Subject"] == image["digest"]

    referrers = requests.get(
        f"{server.url}/v2/signed-app/referrers/{image['digest']}", auth=("AWS", server.password())
    ).json()
    assert len(referrers["manifests"]) == 1
    found = referrers["manifests"][0]
    assert found["annotations"]["org.example.kind"] == "sbom"

    pulled = client.pull(target=f"{server.host}/signed-app@{found['digest']}", outdir=str(tmp_path / "pulled"))
    assert [p.split("/")[-1] for p in pulled] == ["sbom.json"]
    assert (
        hashlib.sha256((tmp_path / "pulled" / "sbom.json").read_bytes()).hexdigest()
        == hashlib.sha256((tmp_path / "sbom.json").read_bytes()).hexdigest()
    )


def test_tls_serving_with_skopeo(tmp_path, skopeo):
    """--tls-cert/--tls-key: the registry speaks HTTPS; skopeo copies through it."""
    import boto3

    tls = self_signed(tmp_path)
    server = Server(
        tmp_path / "data",
        workers=1,
        extra=["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)],
    ).start()
    try:
        response = requests.get(f"https://{server.host}/v2/", verify=str(tls.cert))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith(f'Basic realm="https://{server.host}"')
        source = Layout(tmp_path / "src")
        source.tag(source.image("tls-app"), "v1")
        ecr = boto3.client(
            "ecr",
            endpoint_url=f"https://{server.host}",
            region_name="us-east-1",
            verify=str(tls.cert),
            aws_access_key_id=ADMIN_KEY,
            aws_secret_access_key=ADMIN_SECRET,
        )
        token = base64.b64decode(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]).decode()
        skopeo(
            "copy",
            "--dest-cert-dir",
            tls.cert_dir,
            "--dest-creds",
            token,
            f"oci:{source.root}:v1",
            f"docker://{server.host}/tls-app:v1",
        )
        raw = skopeo(
            "inspect", "--raw", "--cert-dir", tls.cert_dir, "--creds", token, f"docker://{server.host}/tls-app:v1"
        )
        assert json.loads(raw.stdout)["schemaVersion"] == 2
    finally:
        server.stop()
