"""Scanning with real clients: images built here are pushed with skopeo, scanned on push against
OSV data written here and imported offline, findings read with the aws CLI, SBOMs found as
referrers; whiteouts hide what a later layer deleted; a 1 GiB image scans with flat memory."""

from __future__ import annotations

import json
import os
import tarfile
import time
import zipfile

import psutil
import pytest
import requests
from botocore.exceptions import ClientError

from . import scan_images as build
from .conftest import SHARED_BACKEND, Server, wait_until
from .images import Layout
from .webhooks import Receiver

pytestmark = pytest.mark.e2e
FAST = {"KIKOTO_OUTBOX_INTERVAL": "0.1", "KIKOTO_SCAN_CYCLONEDX": "true"}
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5


def osv(vuln_id: str, ecosystem: str, name: str, events: list[dict], **extra) -> dict:
    kind = "SEMVER" if ecosystem in ("npm", "Go") else "ECOSYSTEM"
    return {
        "schema_version": "1.6.0",
        "id": vuln_id,
        "modified": "2026-11-01T00:00:00Z",
        "summary": f"{name} is vulnerable ({vuln_id})",
        "affected": [{"package": {"ecosystem": ecosystem, "name": name}, "ranges": [{"type": kind, "events": events}]}],
        **extra,
    }


RECORDS = [
    osv(
        "CVE-2026-0001",
        "Debian:12",
        "openssl",
        [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
        severity=[{"type": "CVSS_V3", "score": CRITICAL}],
    ),
    osv("CVE-2026-0002", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1"}]),  # fixed in ours
    osv(
        "CVE-2026-0003",
        "Alpine:v3.19",
        "busybox",
        [{"introduced": "0"}, {"fixed": "1.36.1-r16"}],
        severity=[{"type": "CVSS_V3", "score": HIGH}],
    ),
    osv(
        "GHSA-aaaa-bbbb-cccc",
        "PyPI",
        "requests",
        [{"introduced": "0"}, {"fixed": "2.31.0"}],
        aliases=["CVE-2026-0004"],
        database_specific={"severity": "MODERATE"},
    ),
    osv(
        "GHSA-dddd-eeee-ffff",
        "PyPI",
        "vulnpkg",
        [{"introduced": "0"}, {"last_affected": "1.0"}],
        database_specific={"severity": "HIGH"},
    ),
    osv(
        "GHSA-gggg-hhhh-iiii",
        "npm",
        "lodash",
        [{"introduced": "0"}, {"fixed": "4.17.21"}],
        severity=[{"type": "CVSS_V3", "score": HIGH}],
    ),
    osv(
        "CVE-2021-44228",
        "Maven",
        "org.apache.logging.log4j:log4j-core",
        [{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}],
        severity=[{"type": "CVSS_V3", "score": CRITICAL}],
    ),
    osv(
        "CVE-2026-0005",
        "Rocky Linux:9",
        "openssl",
        [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9"}],
        database_specific={"severity": "Important"},
    ),
    osv("GO-2026-0001", "Go", "stdlib", [{"introduced": "0"}, {"fixed": "1.99.0"}]),
]


def write_database(folder, records) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    by_ecosystem: dict[str, list[dict]] = {}
    for record in records:
        by_ecosystem.setdefault(record["affected"][0]["package"]["ecosystem"].split(":")[0], []).append(record)
    for ecosystem, found in by_ecosystem.items():  # as OSV publishes them: one all.zip per ecosystem
        with zipfile.ZipFile(folder / f"{ecosystem}-all.zip", "w") as archive:
            for record in found:
                archive.writestr(f"{record['id']}.json", json.dumps(record))


def push(skopeo, server: Server, layout: Layout, tag: str, repository: str) -> None:
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        server.creds,
        f"oci:{layout.root}:{tag}",
        f"docker://{server.host}/{repository}:{tag}",
    )


def wait_for_scan(ecr, repository: str, tag: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        detail = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"][0]
        if detail.get("imageScanStatus", {}).get("status") in ("COMPLETE", "FAILED", "UNSUPPORTED_IMAGE"):
            return detail
        time.sleep(0.2)
    raise AssertionError(f"{repository}:{tag} was not scanned in time")


def aws(server: Server, *args: str) -> dict:
    return json.loads(server.aws(*args))


def findings_by_name(server: Server, repository: str, tag: str) -> dict[str, dict]:
    answer = aws(
        server, "ecr", "describe-image-scan-findings", "--repository-name", repository, "--image-id", f"imageTag={tag}"
    )
    assert answer["imageScanStatus"]["status"] == "COMPLETE"
    found = {}
    for finding in answer["imageScanFindings"]["findings"]:
        found[finding["name"]] = {**finding, **{a["key"]: a.get("value") for a in finding["attributes"]}}
    return found


def test_images_are_scanned_on_push_with_findings_sboms_and_events(tmp_path, skopeo):
    write_database(tmp_path / "osv", RECORDS)
    server = Server(tmp_path / "data", env=FAST).start()
    hook = Receiver()
    try:
        imported = server.kikoto("vulndb", "import", str(tmp_path / "osv")).stdout
        assert f"read {len(RECORDS)} records" in imported
        status = server.kikoto("vulndb", "status").stdout
        assert "records: 9" in status and "Debian:12: 2" in status
        pattern = tmp_path / "scans.json"
        pattern.write_text(json.dumps({"detail-type": ["ECR Image Scan"]}))
        server.kikoto("events", "add-target", "scans", "--url", hook.url, "--pattern", str(pattern))
        ecr = server.ecr()
        ecr.put_registry_scanning_configuration(
            scanType="BASIC",
            rules=[
                {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "team/*", "filterType": "WILDCARD"}]}
            ],
        )
        layout = Layout(tmp_path / "images")
        site = "usr/lib/python3/dist-packages"
        build.image(
            layout,
            [
                {
                    "etc/os-release": build.os_release("debian", "12"),
                    "var/lib/dpkg/status": build.dpkg_status(
                        ("libssl3", "3.0.11-1~deb12u1", "openssl"), ("zlib1g", "1:1.2.13.dfsg-1", "zlib")
                    ),
                },
                {
                    f"{site}/requests-2.28.0.dist-info/METADATA": build.python_metadata("requests", "2.28.0"),
                    f"{site}/vulnpkg-1.0.dist-info/METADATA": build.python_metadata("vulnpkg", "1.0"),
                    "app/node_modules/lodash/package.json": build.package_json("lodash", "4.17.20"),
                    "app/lib/log4j-core-2.14.1.jar": build.jar("org.apache.logging.log4j", "log4j-core", "2.14.1"),
                },
                {f"{site}/.wh.vulnpkg-1.0.dist-info": b""},  # a later layer deletes vulnpkg
            ],
            "debian",
            how="gzip",
        )
        build.image(
            layout,
            [
                {
                    "etc/os-release": build.os_release("alpine", "3.19.1"),
                    "lib/apk/db/installed": build.apk_installed(
                        ("busybox", "1.36.1-r15", "busybox"), ("musl", "1.2.4-r2", "musl")
                    ),
                },
            ],
            "alpine",
            how="zstd",
        )
        build.image(
            layout,
            [
                {
                    "etc/os-release": build.os_release("rocky", "9.3"),
                    "var/lib/rpm/rpmdb.sqlite": build.rpmdb(
                        build.rpm_header("openssl", "3.0.7", "24.el9", 1),
                        build.rpm_header("bash", "5.1.8", "6.el9", None),
                    ),
                },
            ],
            "rocky",
            how="none",
        )
        go = build.go_binary(tmp_path)
        if go is not None:
            build.image(layout, [{"usr/local/bin/app": (go, 0o755)}], "go")
        for tag in ["debian", "alpine", "rocky"] + (["go"] if go else []):
            push(skopeo, server, layout, tag, f"team/{tag}")

        debian = wait_for_scan(ecr, "team/debian", "debian")
        assert debian["imageScanStatus"]["status"] == "COMPLETE"
        assert debian["imageScanFindingsSummary"]["findingSeverityCounts"] == {"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1}
        found = findings_by_name(server, "team/debian", "debian")
        assert set(found) == {"CVE-2026-0001", "CVE-2026-0004", "GHSA-gggg-hhhh-iiii", "CVE-2021-44228"}
        assert found["CVE-2026-0001"]["severity"] == "CRITICAL" and found["CVE-2026-0001"]["CVSS3_SCORE"] == "9.8"
        assert found["CVE-2026-0001"]["package_name"] == "libssl3"
        assert found["CVE-2026-0001"]["fixed_in_version"] == "3.0.11-1~deb12u2"
        assert found["CVE-2026-0004"]["package_name"] == "requests" and found["CVE-2026-0004"]["severity"] == "MEDIUM"
        assert found["CVE-2021-44228"]["package_name"] == "org.apache.logging.log4j:log4j-core"
        # the whiteout hid vulnpkg; zlib's version is past the fix
        assert "GHSA-dddd-eeee-ffff" not in found and "CVE-2026-0002" not in found

        assert set(findings_by_name(server, "team/alpine", "alpine")) == {"CVE-2026-0003"}
        rocky = findings_by_name(server, "team/rocky", "rocky")
        assert set(rocky) == {"CVE-2026-0005"} and rocky["CVE-2026-0005"]["severity"] == "HIGH"
        if go:
            assert "GO-2026-0001" in findings_by_name(server, "team/go", "go")

        # the SBOMs: referrers of the image, SPDX 2.3 and CycloneDX 1.5, every package with its purl
        digest = debian["imageDigest"]

        def referrers() -> list[dict]:
            listing = [
                "list-image-referrers",
                "--repository-name",
                "team/debian",
                "--subject-id",
                f"imageDigest={digest}",
            ]
            return aws(server, "ecr", *listing)["referrers"]

        kinds = {r["artifactType"]: r["digest"] for r in referrers()}
        assert set(kinds) == {"application/spdx+json", "application/vnd.cyclonedx+json"}
        headers = server.auth_headers()
        sbom_manifest = requests.get(
            f"{server.url}/v2/team/debian/manifests/{kinds['application/spdx+json']}",
            headers={**headers, "Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).json()
        sbom = requests.get(
            f"{server.url}/v2/team/debian/blobs/{sbom_manifest['layers'][0]['digest']}", headers=headers
        ).json()
        assert sbom["spdxVersion"] == "SPDX-2.3"
        purls = {ref["referenceLocator"] for p in sbom["packages"] for ref in p.get("externalRefs", [])}
        assert "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?distro=debian-12" in purls
        assert "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1" in purls
        assert not any("vulnpkg" in p for p in purls)

        events = hook.wait_for(3 + (1 if go else 0))
        scanned = {e["detail"]["repository-name"]: e for e in events}
        assert scanned["team/debian"]["detail"]["finding-severity-counts"] == {"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1}
        assert scanned["team/debian"]["detail"]["image-tags"] == ["debian"]
        assert scanned["team/debian"]["resources"] == ["arn:aws:ecr:us-east-1:000000000000:repository/team/debian"]

        # a rescan replaces the SBOMs the scanner made (each rescan used to add one more of each)
        ecr.start_image_scan(repositoryName="team/debian", imageId={"imageDigest": digest})

        def rescanned() -> list[dict] | None:
            listed = referrers()
            spdx = [r["digest"] for r in listed if r["artifactType"] == "application/spdx+json"]
            return listed if spdx and spdx != [kinds["application/spdx+json"]] else None

        again = wait_until(rescanned, 60, "the rescan's SBOMs")
        assert sorted(r["artifactType"] for r in again) == ["application/spdx+json", "application/vnd.cyclonedx+json"]
        gone = requests.get(
            f"{server.url}/v2/team/debian/manifests/{kinds['application/spdx+json']}",
            headers={**headers, "Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert gone.status_code == 404  # the one it replaced
        kinds = {r["artifactType"]: r["digest"] for r in again}

        # manual scans: one per image per 24 h; artifacts cannot be scanned; unscanned images have no scan
        ecr.start_image_scan(repositoryName="team/alpine", imageId={"imageTag": "alpine"})
        with pytest.raises(ClientError) as again:
            ecr.start_image_scan(repositoryName="team/alpine", imageId={"imageTag": "alpine"})
        assert again.value.response["Error"]["Code"] == "LimitExceededException"
        ecr.update_image_storage_class(
            repositoryName="team/alpine", imageId={"imageTag": "alpine"}, targetStorageClass="ARCHIVE"
        )
        with pytest.raises(ClientError) as archived:
            ecr.start_image_scan(repositoryName="team/alpine", imageId={"imageTag": "alpine"})
        assert archived.value.response["Error"]["Code"] == "ImageArchivedException"
        # findings page by key
        first = ecr.describe_image_scan_findings(
            repositoryName="team/debian", imageId={"imageTag": "debian"}, maxResults=3
        )
        rest = ecr.describe_image_scan_findings(
            repositoryName="team/debian", imageId={"imageTag": "debian"}, maxResults=3, nextToken=first["nextToken"]
        )
        names = [f["name"] for f in first["imageScanFindings"]["findings"] + rest["imageScanFindings"]["findings"]]
        assert sorted(names) == sorted(found) and "nextToken" not in rest
        assert names[:2] == sorted(names[:2]) and first["imageScanFindings"]["findings"][0]["severity"] == "CRITICAL"
        with pytest.raises(ClientError) as artifact:
            ecr.start_image_scan(repositoryName="team/debian", imageId={"imageDigest": kinds["application/spdx+json"]})
        assert artifact.value.response["Error"]["Code"] == "UnsupportedImageTypeException"
        ecr.create_repository(repositoryName="other/app")
        push(skopeo, server, layout, "alpine", "other/app")  # outside the rule's filter: not scanned
        with pytest.raises(ClientError) as missing:
            ecr.describe_image_scan_findings(repositoryName="other/app", imageId={"imageTag": "alpine"})
        assert missing.value.response["Error"]["Code"] == "ScanNotFoundException"
        configurations = ecr.batch_get_repository_scanning_configuration(
            repositoryNames=["team/debian", "other/app", "nope"]
        )
        frequencies = {c["repositoryName"]: c["scanFrequency"] for c in configurations["scanningConfigurations"]}
        assert frequencies == {"team/debian": "SCAN_ON_PUSH", "other/app": "MANUAL"}
        assert configurations["failures"][0]["failureCode"] == "REPOSITORY_NOT_FOUND"
    finally:
        hook.close()
        server.stop()


def test_continuous_scanning_finds_what_new_vulnerability_data_names(tmp_path, skopeo):
    write_database(tmp_path / "osv", RECORDS[:1])
    server = Server(tmp_path / "data", env=FAST).start()
    try:
        server.kikoto("vulndb", "import", str(tmp_path / "osv"))
        ecr = server.ecr()
        ecr.put_registry_scanning_configuration(
            rules=[
                {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}
            ]
        )
        layout = Layout(tmp_path / "images")
        build.image(layout, [{"app/node_modules/lodash/package.json": build.package_json("lodash", "4.17.20")}], "v1")
        push(skopeo, server, layout, "v1", "web")
        assert wait_for_scan(ecr, "web", "v1")["imageScanFindingsSummary"]["findingSeverityCounts"] == {}
        write_database(tmp_path / "osv2", RECORDS[5:6])  # lodash's advisory arrives later
        server.kikoto("vulndb", "import", str(tmp_path / "osv2"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            images = ecr.describe_images(repositoryName="web", imageIds=[{"imageTag": "v1"}])["imageDetails"]
            summary = images[0]["imageScanFindingsSummary"]
            if summary["findingSeverityCounts"]:
                break
            time.sleep(0.2)
        assert summary["findingSeverityCounts"] == {"HIGH": 1}  # rescanned without a push
    finally:
        server.stop()


@pytest.mark.skipif(SHARED_BACKEND, reason="1 GiB through the object store adds minutes: the local pass covers it")
def test_a_one_gib_image_scans_on_push_with_flat_memory(tmp_path):
    server = Server(tmp_path / "data", workers=1, env=FAST).start()
    try:
        ecr = server.ecr()
        ecr.create_repository(repositoryName="big", imageScanningConfiguration={"scanOnPush": True})
        layer = tmp_path / "layer.tar"
        with open(layer, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
            info = tarfile.TarInfo("data/big.bin")
            info.size = 1 << 30
            with open("/dev/zero", "rb") as zeros:
                tar.addfile(info, zeros)
            status = build.dpkg_status(("libssl3", "3.0.11-1~deb12u1", "openssl"))
            info = tarfile.TarInfo("var/lib/dpkg/status")
            info.size = len(status)
            tar.addfile(info, __import__("io").BytesIO(status))
        import hashlib

        digest = hashlib.sha256()
        with open(layer, "rb") as f:
            while chunk := f.read(8 << 20):
                digest.update(chunk)
        layer_digest = "sha256:" + digest.hexdigest()
        auth = server.auth_headers()
        with open(layer, "rb") as body:
            requests.post(
                f"{server.url}/v2/big/blobs/uploads/?digest={layer_digest}", data=body, headers=auth
            ).raise_for_status()
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}
        ).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        requests.post(
            f"{server.url}/v2/big/blobs/uploads/?digest={config_digest}", data=config, headers=auth
        ).raise_for_status()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest,
                        "size": layer.stat().st_size,
                    }
                ],
            }
        ).encode()
        worker = (
            psutil.Process(server.process.pid).children()[0]
            if psutil.Process(server.process.pid).children()
            else psutil.Process(server.process.pid)
        )
        before = worker.memory_info().rss
        requests.put(
            f"{server.url}/v2/big/manifests/v1",
            data=manifest,
            headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ).raise_for_status()
        peak, deadline = before, time.monotonic() + 120
        while time.monotonic() < deadline:
            peak = max(peak, worker.memory_info().rss)
            detail = ecr.describe_images(repositoryName="big", imageIds=[{"imageTag": "v1"}])["imageDetails"]
            if detail and detail[0].get("imageScanStatus", {}).get("status") == "COMPLETE":
                break
            time.sleep(0.05)
        assert detail[0]["imageScanStatus"]["status"] == "COMPLETE"
        grown = (peak - before) / 2**20
        print(f"scanning a 1 GiB layer grew the worker by {grown:.1f} MiB")
        assert grown < 64
        os.remove(layer)
    finally:
        server.stop()


def test_an_index_scans_per_platform_and_kikoto_scan_prints_the_findings(tmp_path, skopeo):
    write_database(tmp_path / "osv", RECORDS)
    server = Server(tmp_path / "data", env=FAST).start()
    try:
        server.kikoto("vulndb", "import", str(tmp_path / "osv"))
        layout = Layout(tmp_path / "images")
        children = []
        for arch, (name, version) in {"amd64": ("lodash", "4.17.20"), "arm64": ("requests", "2.28.0")}.items():
            files = (
                {"app/node_modules/lodash/package.json": build.package_json(name, version)}
                if name == "lodash"
                else {
                    "usr/lib/python3/site-packages/requests-2.28.0.dist-info/METADATA": build.python_metadata(
                        name, version
                    )
                }
            )
            child = build.image(layout, [files], f"only-{arch}")
            children.append({**child, "platform": {"architecture": arch, "os": "linux"}})
        index = layout.blob(
            json.dumps(
                {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children}
            ).encode(),
            "application/vnd.oci.image.index.v1+json",
        )
        layout.tag(index, "multi")
        skopeo(
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            server.creds,
            f"oci:{layout.root}:multi",
            f"docker://{server.host}/multi:v1",
        )
        printed = server.kikoto("scan", "multi:v1").stdout
        assert "GHSA-gggg-hhhh-iiii" in printed and "CVE-2026-0004" in printed and "lodash" in printed
        answer = server.kikoto("scan", "multi:v1", "--json").stdout
        paths = {a["value"] for f in json.loads(answer)["findings"] for a in f["attributes"] if a["key"] == "file_path"}
        assert {p.split(":", 1)[0] for p in paths} == {"linux/amd64", "linux/arm64"}
        found = findings_by_name(server, "multi", "v1")  # the same scan, through the API
        assert set(found) == {"GHSA-gggg-hhhh-iiii", "CVE-2026-0004"}
    finally:
        server.stop()
