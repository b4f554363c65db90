"""Keyset paging of the ECR listings: every image exactly once across pages, even while images
are pushed and deleted between pages, and nextTokens that cannot be forged or moved."""

from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

from ..helpers import SHARED_CONFIG, numbered_manifest, sha256

pytestmark = pytest.mark.e2e
OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG = SHARED_CONFIG


def push(session, server, repo: str, n: int, tags: list[str]) -> str:
    body = numbered_manifest(n)
    for reference in tags or [sha256(body)]:
        response = session.put(
            f"{server.url}/v2/{repo}/manifests/{reference}", data=body, headers={"Content-Type": OCI}, timeout=10
        )
        assert response.status_code == 201, response.text
    return sha256(body)


def test_pages_see_every_image_once_while_the_repository_changes(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="many")
    session = requests.Session()
    session.headers.update(server.auth_headers())
    assert session.post(f"{server.url}/v2/many/blobs/uploads/?digest={sha256(CONFIG)}", data=CONFIG).status_code == 201
    expected = set()
    for n in range(600):
        tags = [f"t{n}"] + ([f"also{n}"] if n % 7 == 0 else []) if n % 5 else []
        digest = push(session, server, "many", n, tags)
        expected |= {(digest, t) for t in tags} or {(digest, None)}

    seen, token, pages, extra = [], None, 0, 0
    while True:
        page = ecr.list_images(repositoryName="many", maxResults=50, **({"nextToken": token} if token else {}))
        seen += [(i["imageDigest"], i.get("imageTag")) for i in page["imageIds"]]
        pages += 1
        push(session, server, "many", 10_000 + pages, [f"new{pages}"])  # concurrent pushes between pages
        extra += 1
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == len(set(seen))  # nothing twice
    assert expected <= set(seen)  # nothing that was there from the start is skipped
    assert pages >= len(expected) // 50

    details, token = [], None
    while True:
        page = ecr.describe_images(
            repositoryName="many",
            maxResults=100,
            filter={"tagStatus": "UNTAGGED"},
            **({"nextToken": token} if token else {}),
        )
        details += page["imageDetails"]
        token = page.get("nextToken")
        if not token:
            break
    assert len(details) == len({d["imageDigest"] for d in details}) == sum(1 for _, t in expected if t is None)
    assert all("imageTags" not in d for d in details)


def test_next_tokens_cannot_be_forged_or_moved(server):
    ecr = server.ecr()
    for repo in ("one", "two"):
        ecr.create_repository(repositoryName=repo)
    session = requests.Session()
    session.headers.update(server.auth_headers())
    for repo in ("one", "two"):
        assert (
            session.post(f"{server.url}/v2/{repo}/blobs/uploads/?digest={sha256(CONFIG)}", data=CONFIG).status_code
            == 201
        )
        for n in range(3):
            push(session, server, repo, n, [f"v{n}"])
    token = ecr.list_images(repositoryName="one", maxResults=1)["nextToken"]
    body, _, mac = token.partition(".")
    for forged in (body + "." + mac[::-1], body[:-2] + "AA." + mac, "garbage"):
        with pytest.raises(ClientError) as raised:
            ecr.list_images(repositoryName="one", maxResults=1, nextToken=forged)
        assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    for call in (
        lambda: ecr.list_images(repositoryName="two", nextToken=token),
        lambda: ecr.describe_images(repositoryName="one", nextToken=token),
        lambda: ecr.describe_repositories(nextToken=token),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    names, token = [], None
    while True:
        page = ecr.describe_repositories(maxResults=1, **({"nextToken": token} if token else {}))
        names += [r["repositoryName"] for r in page["repositories"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == ["one", "two"]


def test_referrers_page_by_key_through_the_filter(server):
    ecr = server.ecr()
    ecr.create_repository(repositoryName="signed")
    session = requests.Session()
    session.headers.update(server.auth_headers())
    for blob in (CONFIG, b"{}"):
        assert (
            session.post(f"{server.url}/v2/signed/blobs/uploads/?digest={sha256(blob)}", data=blob).status_code == 201
        )
    subject_body = numbered_manifest(0)
    subject = push(session, server, "signed", 0, ["v1"])
    expected = {}
    for n in range(9):
        kind = "application/vnd.example.signature" if n % 3 else "application/vnd.example.sbom"
        referrer = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI,
                "artifactType": kind,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
                "layers": [],
                "annotations": {"n": str(n)},
                "subject": {"mediaType": OCI, "digest": subject, "size": len(subject_body)},
            }
        ).encode()
        assert (
            session.put(
                f"{server.url}/v2/signed/manifests/{sha256(referrer)}", data=referrer, headers={"Content-Type": OCI}
            ).status_code
            == 201
        )
        expected[sha256(referrer)] = kind
    seen, token = [], None
    while True:
        page = ecr.list_image_referrers(
            repositoryName="signed",
            subjectId={"imageDigest": subject},
            maxResults=2,
            filter={"artifactTypes": ["application/vnd.example.signature"]},
            **({"nextToken": token} if token else {}),
        )
        assert len(page["referrers"]) <= 2
        seen += [r["digest"] for r in page["referrers"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == sorted(d for d, kind in expected.items() if kind.endswith("signature"))
    with pytest.raises(ClientError) as raised:
        ecr.list_image_referrers(
            repositoryName="signed",
            subjectId={"imageDigest": sha256(b"other")},
            nextToken=token
            or ecr.list_image_referrers(repositoryName="signed", subjectId={"imageDigest": subject}, maxResults=1)[
                "nextToken"
            ],
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_short_lists_page_with_signed_tokens_too(server):
    """Creation templates and pull-time exclusions: kept in memory, paged by key like the rest."""
    ecr = server.ecr()
    prefixes = [f"team{n}" for n in range(5)]
    for prefix in prefixes:
        ecr.create_repository_creation_template(prefix=prefix, appliedFor=["CREATE_ON_PUSH"])
    arns = [f"arn:aws:iam::000000000000:user/scanner{n}" for n in range(5)]
    for arn in arns:
        ecr.register_pull_time_update_exclusion(principalArn=arn)
    pages = ecr.get_paginator("describe_repository_creation_templates").paginate(PaginationConfig={"PageSize": 2})
    assert [t["prefix"] for page in pages for t in page["repositoryCreationTemplates"]] == prefixes
    seen, token = [], None
    while True:
        page = ecr.list_pull_time_update_exclusions(maxResults=2, **({"nextToken": token} if token else {}))
        seen += page["pullTimeUpdateExclusions"]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == arns
    forged = token or ecr.list_pull_time_update_exclusions(maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as raised:
        ecr.describe_repository_creation_templates(maxResults=1, nextToken=forged)  # another listing's token
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
