"""ECR's managed signing: a signing key from the CLI, the signing configuration through boto3,
an image pushed with skopeo and signed in the background, its status as ECR reports it, and the
Notary signature verified here with joserfc and cryptography, independently of Kikötő's code."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey
from joserfc.registry import HeaderParameter

from .conftest import Server
from .images import Layout

pytestmark = pytest.mark.e2e
NOTARY = "application/vnd.cncf.notary.signature"


def create_key(server: Server, name: str) -> tuple[str, str]:
    result = server.kikoto("signing-keys", "create", name)
    profile = result.stderr.split("signing profile ")[1].split()[0]
    return profile, result.stdout


def wait_for(ecr, repo: str, digest: str, expected: str) -> list[dict]:
    deadline = time.monotonic() + 20
    while True:
        statuses = ecr.describe_image_signing_status(repositoryName=repo, imageId={"imageDigest": digest})
        if statuses["signingStatuses"] and all(s["status"] == expected for s in statuses["signingStatuses"]):
            return statuses["signingStatuses"]
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)


def verify_notary_signature(envelope: bytes, subject: dict, root_pem: str, annotations: dict) -> None:
    """What a Notary verifier checks, written against the specification, not Kikötő's code."""
    document = json.loads(envelope)
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in document["header"]["x5c"]]
    leaf, root = chain[0], chain[-1]
    trusted = x509.load_pem_x509_certificate(root_pem.encode())
    assert root.fingerprint(hashes.SHA256()) == trusted.fingerprint(hashes.SHA256())  # the printed root
    trusted.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
    trusted.public_key().verify(root.signature, root.tbs_certificate_bytes, ec.ECDSA(root.signature_hash_algorithm))
    assert ExtendedKeyUsageOID.CODE_SIGNING in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    thumbprints = [hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in chain]
    assert json.loads(annotations["io.cncf.notary.x509chain.thumbprint#S256"]) == thumbprints

    registry = jws.JWSRegistry(
        algorithms=["ES256"],
        header_registry={
            "io.cncf.notary.signingScheme": HeaderParameter("signing scheme", "str", True),
            "io.cncf.notary.signingTime": HeaderParameter("signing time", "str"),
            "io.cncf.notary.signingAgent": HeaderParameter("signing agent", "str"),
        },
    )
    public = ECKey.import_key(
        leaf.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verified = jws.deserialize_json(document, public, registry=registry)  # raises on a bad signature
    headers = verified.headers()
    assert headers["cty"] == "application/vnd.cncf.notary.payload.v1+json"
    assert headers["io.cncf.notary.signingScheme"] == "notary.x509"
    assert headers["crit"] == ["io.cncf.notary.signingScheme"]
    assert json.loads(verified.payload)["targetArtifact"] == subject
    tampered = dict(
        document,
        payload=base64.urlsafe_b64encode(
            json.dumps({"targetArtifact": {**subject, "digest": "sha256:" + "0" * 64}}).encode()
        )
        .decode()
        .rstrip("="),
    )
    with pytest.raises(BadSignatureError):
        jws.deserialize_json(tampered, public, registry=registry)


def test_images_pushed_to_covered_repositories_are_signed(server, skopeo, tmp_path):
    ecr = server.ecr()
    profile, root_pem = create_key(server, "team_signer")
    assert profile == "arn:aws:signer:us-east-1:000000000000:/signing-profiles/team_signer"
    with pytest.raises(ClientError) as missing:
        ecr.get_signing_configuration()
    assert missing.value.response["Error"]["Code"] == "SigningConfigurationNotFoundException"
    configuration = {
        "rules": [
            {
                "signingProfileArn": profile,
                "repositoryFilters": [{"filter": "signed/*", "filterType": "WILDCARD_MATCH"}],
            }
        ]
    }
    assert ecr.put_signing_configuration(signingConfiguration=configuration)["signingConfiguration"] == configuration
    assert ecr.get_signing_configuration()["signingConfiguration"] == configuration
    unknown = {"rules": [{"signingProfileArn": profile.replace("team_signer", "nobody")}]}
    with pytest.raises(ClientError) as refused:
        ecr.put_signing_configuration(signingConfiguration=unknown)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

    source = Layout(tmp_path / "src")
    image = source.image("signed-app", layers=2)
    source.tag(image, "1.0")
    for repo in ("signed/app", "plain/app"):
        ecr.create_repository(repositoryName=repo)
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            server.creds,
            f"oci:{source.root}:1.0",
            f"docker://{server.host}/{repo}:1.0",
        )
    digest = image["digest"]
    statuses = wait_for(ecr, "signed/app", digest, "COMPLETE")
    assert statuses == [{"signingProfileArn": profile, "status": "COMPLETE"}]
    assert (
        ecr.describe_image_signing_status(repositoryName="plain/app", imageId={"imageTag": "1.0"})["signingStatuses"]
        == []
    )

    session = requests.Session()
    session.headers.update(server.auth_headers())
    referrers = session.get(
        f"{server.url}/v2/signed/app/referrers/{digest}", params={"artifactType": NOTARY}, timeout=10
    ).json()["manifests"]
    assert len(referrers) == 1 and referrers[0]["artifactType"] == NOTARY
    signature = session.get(
        f"{server.url}/v2/signed/app/manifests/{referrers[0]['digest']}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    ).json()
    assert signature["subject"]["digest"] == digest
    layer = signature["layers"][0]
    assert layer["mediaType"] == "application/jose+json"
    envelope = session.get(f"{server.url}/v2/signed/app/blobs/{layer['digest']}", timeout=10).content
    verify_notary_signature(
        envelope,
        {"mediaType": image["mediaType"], "digest": digest, "size": image["size"]},
        root_pem,
        signature["annotations"],
    )
    # the signature travels with the image: skopeo sees the referrer's target intact
    raw = skopeo(
        "inspect", "--raw", "--tls-verify=false", "--creds", server.creds, f"docker://{server.host}/signed/app@{digest}"
    ).stdout
    assert hashlib.sha256(raw.encode()).hexdigest() == digest[7:]

    assert ecr.delete_signing_configuration()["signingConfiguration"] == configuration
    with pytest.raises(ClientError):
        ecr.get_signing_configuration()
