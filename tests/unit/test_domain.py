"""The pure domain: names, tags, digests, manifest parsing, paging."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kikoto.domain.digests import digest_bytes, parse_digest
from kikoto.domain.errors import DigestInvalid, KikotoError, ManifestInvalid, NameInvalid, PageSizeInvalid
from kikoto.domain.manifests import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, parse_manifest
from kikoto.domain.names import check_repository_name, is_valid_tag, parse_reference
from kikoto.domain.paging import MAX_PAGE, parse_page_size

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("name", ["a", "ab", "python-app", "team/node-app", "a.b_c__d---e/f", "x" * 256, "0/1/2"])
def test_valid_repository_names(name):
    assert check_repository_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "-a", "a-", "a//b", "/a", "a/", "a..b", "a___b", "a b", "x" * 257, "a:b"])
def test_invalid_repository_names(name):
    with pytest.raises(NameInvalid):
        check_repository_name(name)


@pytest.mark.parametrize(
    "tag,ok",
    [
        ("latest", True),
        ("1.0.0", True),
        ("_x", True),
        ("A-b.c_d", True),
        (".x", False),
        ("-x", False),
        ("", False),
        ("a" * 128, True),
        ("a" * 129, False),
        ("a/b", False),
        ("a:b", False),
    ],
)
def test_tags(tag, ok):
    assert is_valid_tag(tag) is ok


def test_references():
    assert parse_reference("v1").tag == "v1"
    assert str(parse_reference(D).digest) == D
    with pytest.raises(DigestInvalid):
        parse_reference("sha256:short")


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "A" * 64,
        "sha256:abc",
        "sha512:" + "a" * 64,
        "md5:" + "a" * 32,
        "sha256",
        ":abc",
        "sha256:" + "g" * 64,
        "",
    ],
)
def test_bad_digests(text):
    with pytest.raises(DigestInvalid):
        parse_digest(text)


@given(st.binary(max_size=2048), st.sampled_from(["sha256", "sha512"]))
def test_digest_round_trip(data, algorithm):
    digest = digest_bytes(data, algorithm)
    assert parse_digest(str(digest)) == digest


def _descriptor(media_type="application/octet-stream", size=3, **extra):
    return {"mediaType": media_type, "digest": D, "size": size, **extra}


def test_image_manifest_parse():
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [_descriptor(), _descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")],
        "subject": _descriptor(OCI_MANIFEST),
        "annotations": {"a": "b"},
    }
    manifest = parse_manifest(json.dumps(body).encode(), None, D)
    assert manifest.media_type == OCI_MANIFEST and not manifest.is_index
    assert len(manifest.blobs) == 3 and manifest.blobs[2].is_foreign
    assert manifest.subject.digest == D
    assert manifest.referrer_artifact_type == "application/vnd.oci.image.config.v1+json"
    assert manifest.annotations == {"a": "b"}


def test_artifact_type_wins_over_config_type():
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "x/y", "config": _descriptor(), "layers": []}
    assert parse_manifest(json.dumps(body).encode(), None, D).referrer_artifact_type == "x/y"


def test_media_type_from_content_type_or_shape():
    index = {"schemaVersion": 2, "manifests": [_descriptor(OCI_MANIFEST)]}
    assert parse_manifest(json.dumps(index).encode(), None, D).media_type == OCI_INDEX
    assert parse_manifest(json.dumps(index).encode(), DOCKER_LIST + "; charset=utf-8", D).media_type == DOCKER_LIST
    image = {"schemaVersion": 2, "config": _descriptor(), "layers": []}
    assert parse_manifest(json.dumps(image).encode(), DOCKER_MANIFEST, D).media_type == DOCKER_MANIFEST
    assert parse_manifest(json.dumps(image).encode(), "application/json", D).media_type == OCI_MANIFEST


@pytest.mark.parametrize(
    "body",
    [
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(size=-1), "layers": []},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(size=True), "layers": []},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(), "layers": [{"digest": D}]},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(), "layers": [], "manifests": []},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(), "layers": [], "annotations": {"a": 1}},
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [_descriptor(digest="bad")]},
        {"schemaVersion": "2", "config": _descriptor(), "layers": []},
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
        {"schemaVersion": 2, "mediaType": 5},
    ],
)
def test_invalid_manifests(body):
    with pytest.raises(ManifestInvalid):
        parse_manifest(json.dumps(body).encode(), None, D)


@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash_the_parser(data):
    try:
        parse_manifest(data, None, D)
    except KikotoError as error:
        assert isinstance(error, ManifestInvalid)  # a too-large manifest is a ManifestTooLarge, a ManifestInvalid


def test_page_size():
    assert parse_page_size(None) is None
    assert parse_page_size("5") == 5
    assert parse_page_size("999999999") == MAX_PAGE
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(PageSizeInvalid):
            parse_page_size(bad)
