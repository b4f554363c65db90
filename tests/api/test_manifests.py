"""Manifests, tags and referrers: every media type, tagging mode and error code."""

import json

from kikoto.domain.manifests import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

from ..helpers import error_code, image_manifest, index_manifest, push_blob, push_image, put_manifest, sha256

ARTIFACT = "application/vnd.example.sbom.v1"
EMPTY_CONFIG = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2}


async def test_push_by_tag_and_pull_byte_exact(client):
    body, digest = await push_image(client, "app", "1.0.0")
    for reference in ["1.0.0", digest]:
        response = await client.get(f"/v2/app/manifests/{reference}")
        assert response.status == 200
        assert await response.read() == body
        assert response.headers["Content-Type"] == OCI_MANIFEST
        assert response.headers["Docker-Content-Digest"] == digest
    response = await client.head("/v2/app/manifests/1.0.0")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["Docker-Content-Digest"] == digest


async def test_pretty_printed_bytes_are_kept_exactly(client):
    config, layer = b'{"a":1}', b"layer"
    for blob in (config, layer):
        await push_blob(client, "app", blob)
    body = json.dumps(json.loads(image_manifest(config, [layer])), indent=7).encode() + b"\n\n"
    response = await put_manifest(client, "app", sha256(body), body)
    assert response.status == 201
    assert await (await client.get(f"/v2/app/manifests/{sha256(body)}")).read() == body


async def test_put_by_digest_with_tag_parameters(client):
    config, layer = b"{}", b"data"
    for blob in (config, layer):
        await push_blob(client, "app", blob)
    body = image_manifest(config, [layer])
    response = await client.put(
        f"/v2/app/manifests/{sha256(body)}?tag=a&tag=b&tag=c", data=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status == 201
    assert response.headers.getall("OCI-Tag") == ["a", "b", "c"]
    assert (await (await client.get("/v2/app/tags/list")).json())["tags"] == ["a", "b", "c"]


async def test_digest_reference_must_match(client):
    config, layer = b"{}", b"data"
    for blob in (config, layer):
        await push_blob(client, "app", blob)
    body = image_manifest(config, [layer])
    response = await put_manifest(client, "app", sha256(b"other"), body)
    assert response.status == 400
    assert await error_code(response) == "DIGEST_INVALID"


async def test_missing_blobs_are_refused(client):
    body = image_manifest(b"{}", [b"never uploaded"])
    response = await put_manifest(client, "app", "v1", body)
    assert response.status == 400
    assert await error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert (await client.get("/v2/app/manifests/v1")).status == 404


async def test_descriptor_size_must_match_the_blob(client):
    config, layer = b"{}", b"data"
    for blob in (config, layer):
        await push_blob(client, "app", blob)
    body = json.loads(image_manifest(config, [layer]))
    body["layers"][0]["size"] = 999
    response = await put_manifest(client, "app", "v1", json.dumps(body).encode())
    assert response.status == 400
    assert await error_code(response) == "MANIFEST_INVALID"


async def test_bad_manifests_get_manifest_invalid(client):
    cases = [
        b"{not json",
        b"[1,2]",
        json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": "x"}, "layers": []}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": "application/x-unknown", "layers": []}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": "nope"}).encode(),
        b"\xff\xfe",
    ]
    for body in cases:
        response = await put_manifest(client, "app", "v1", body)
        assert response.status == 400, body
        assert await error_code(response) == "MANIFEST_INVALID", body
    response = await client.get("/v2/app/tags/list")
    assert response.status == 404  # nothing was stored, not even the repository


async def test_media_type_must_agree_with_content_type(client):
    _, _ = await push_image(client, "app", "seed")
    body = image_manifest(
        json.dumps({"architecture": "amd64", "os": "linux", "seed": "x"}).encode(),
        [f"layer x {i}".encode() * 100 for i in range(2)],
    )
    response = await client.put("/v2/app/manifests/v2", data=body, headers={"Content-Type": OCI_INDEX})
    assert response.status == 400
    assert await error_code(response) == "MANIFEST_INVALID"


async def test_invalid_tag(client):
    body = image_manifest(b"{}", [])
    for tag in ["-bad", ".bad", "a" * 129, "bad%20tag"]:
        response = await put_manifest(client, "app", tag, body)
        assert response.status == 400, tag
        assert await error_code(response) == "MANIFEST_INVALID"


async def test_oversize_manifest_is_413(client):
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = await put_manifest(client, "app", "big", body)
    assert response.status == 413
    assert await error_code(response) == "SIZE_INVALID"


async def test_docker_schema2_and_manifest_list(client):
    config, layer = b'{"os":"linux"}', b"docker layer"
    for blob in (config, layer):
        await push_blob(client, "app", blob)
    child = image_manifest(config, [layer], media_type=DOCKER_MANIFEST)
    response = await put_manifest(client, "app", sha256(child), child, DOCKER_MANIFEST)
    assert response.status == 201
    parent = index_manifest([child], media_type=DOCKER_LIST)
    response = await put_manifest(client, "app", "multi", parent, DOCKER_LIST)
    assert response.status == 201
    response = await client.get("/v2/app/manifests/multi")
    assert response.headers["Content-Type"] == DOCKER_LIST
    response = await client.get(f"/v2/app/manifests/{sha256(child)}")
    assert response.headers["Content-Type"] == DOCKER_MANIFEST


async def test_index_needs_its_children_unless_sparse(client):
    child_a, _ = await push_image(client, "app", "a", seed="a")
    index = index_manifest([child_a, b'{"schemaVersion":2,"missing":true}'])
    response = await put_manifest(client, "app", "multi", index, OCI_INDEX)
    assert response.status == 400
    assert await error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    child_b, _ = await push_image(client, "app", "b", seed="b")
    index = index_manifest([child_a, child_b])
    response = await put_manifest(client, "app", "multi", index, OCI_INDEX)
    assert response.status == 201


async def test_delete_by_tag_keeps_the_manifest(client):
    _, digest = await push_image(client, "app", "v1")
    response = await client.put(
        "/v2/app/manifests/v2",
        data=(await (await client.get(f"/v2/app/manifests/{digest}")).read()),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status == 201
    assert (await client.delete("/v2/app/manifests/v1")).status == 202
    assert (await client.get("/v2/app/manifests/v1")).status == 404
    assert (await client.get("/v2/app/manifests/v2")).status == 200
    assert (await client.get(f"/v2/app/manifests/{digest}")).status == 200


async def test_delete_by_digest_removes_every_tag(client):
    _, digest = await push_image(client, "app", "v1")
    await client.put(
        f"/v2/app/manifests/{digest}?tag=v2",
        data=(await (await client.get("/v2/app/manifests/v1")).read()),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert (await client.delete(f"/v2/app/manifests/{digest}")).status == 202
    for reference in ["v1", "v2", digest]:
        response = await client.get(f"/v2/app/manifests/{reference}")
        assert response.status == 404
        assert await error_code(response) == "MANIFEST_UNKNOWN"
    assert (await (await client.get("/v2/app/tags/list")).json())["tags"] == []
    response = await client.delete(f"/v2/app/manifests/{digest}")
    assert response.status == 404


async def test_unknown_repository_and_manifest(client):
    response = await client.get("/v2/nothing/manifests/latest")
    assert response.status == 404
    assert await error_code(response) == "NAME_UNKNOWN"
    response = await client.get("/v2/nothing/tags/list")
    assert await error_code(response) == "NAME_UNKNOWN"
    await push_image(client, "app", "v1")
    response = await client.get("/v2/app/manifests/v9")
    assert await error_code(response) == "MANIFEST_UNKNOWN"
    response = await client.head("/v2/app/manifests/v9")
    assert response.status == 404


async def test_tag_list_order_and_paging(client):
    body, digest = await push_image(client, "app", "seed")
    names = ["b", "A", "a", "1.0", "10", "2", "_x", "Z"]
    for name in names:
        await put_manifest(client, "app", name, body)
    response = await client.get("/v2/app/tags/list")
    assert (await response.json())["tags"] == sorted(names + ["seed"])  # byte order: digits, upper, _, lower
    seen, url = [], "/v2/app/tags/list?n=4"
    while url:
        response = await client.get(url)
        seen += (await response.json())["tags"]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert seen == sorted(names + ["seed"])
    response = await client.get("/v2/app/tags/list?n=2&last=a")
    assert (await response.json())["tags"] == ["b", "seed"]
    response = await client.get("/v2/app/tags/list?n=0")
    assert (await response.json())["tags"] == []
    assert "Link" not in response.headers


async def test_subject_referrers_and_filters(client):
    subject_body, subject = await push_image(client, "app", "v1")
    await push_blob(client, "app", b"{}")
    sbom, signature = b'{"sbom": true}', b"signature-bytes"
    for blob in (sbom, signature):
        await push_blob(client, "app", blob)
    subject_descriptor = {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)}
    referrer_bodies = []
    for artifact_type, blob in [(ARTIFACT, sbom), ("application/vnd.example.signature", signature)]:
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": artifact_type,
                "config": EMPTY_CONFIG,
                "layers": [{"mediaType": "application/octet-stream", "digest": sha256(blob), "size": len(blob)}],
                "subject": subject_descriptor,
                "annotations": {"org.example.kind": artifact_type},
            }
        ).encode()
        response = await put_manifest(client, "app", sha256(body), body)
        assert response.status == 201, await response.text()
        assert response.headers["OCI-Subject"] == subject
        referrer_bodies.append(body)

    response = await client.get(f"/v2/app/referrers/{subject}")
    assert response.status == 200
    assert response.headers["Content-Type"] == OCI_INDEX
    index = await response.json()
    assert index["mediaType"] == OCI_INDEX
    assert {m["digest"] for m in index["manifests"]} == {sha256(b) for b in referrer_bodies}
    assert {m["artifactType"] for m in index["manifests"]} == {ARTIFACT, "application/vnd.example.signature"}
    assert all(m["annotations"]["org.example.kind"] == m["artifactType"] for m in index["manifests"])

    response = await client.get(f"/v2/app/referrers/{subject}?artifactType={ARTIFACT}")
    assert response.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["artifactType"] for m in (await response.json())["manifests"]] == [ARTIFACT]


async def test_referrers_of_unknown_subject_is_empty_not_404(client):
    response = await client.get(f"/v2/app/referrers/{sha256(b'nothing')}")
    assert response.status == 200
    assert (await response.json())["manifests"] == []
    response = await client.get("/v2/app/referrers/not-a-digest")
    assert response.status == 400


async def test_subject_may_point_at_a_missing_manifest(client):
    await push_blob(client, "app", b"{}")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT,
            "config": EMPTY_CONFIG,
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": sha256(b"future"), "size": 6},
        }
    ).encode()
    response = await put_manifest(client, "app", sha256(body), body)
    assert response.status == 201
    index = await (await client.get(f"/v2/app/referrers/{sha256(b'future')}")).json()
    assert [m["digest"] for m in index["manifests"]] == [sha256(body)]
