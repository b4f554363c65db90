"""Notary Project signatures (the format ECR's managed signing produces): a JWS envelope over
the signed image's descriptor, carried by an OCI artifact that refers to the image.

Spec: notaryproject/specifications, signature-specification.md and signature-envelope-jws.md.
Keys are ECDSA P-256 (alg ES256) with an X.509 chain: a self-signed root, and a leaf for code
signing whose certificates travel in the envelope's `x5c` header.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SIGNATURE_ARTIFACT_TYPE = "application/vnd.cncf.notary.signature"
ENVELOPE_MEDIA_TYPE = "application/jose+json"
PAYLOAD_MEDIA_TYPE = "application/vnd.cncf.notary.payload.v1+json"
THUMBPRINTS = "io.cncf.notary.x509chain.thumbprint#S256"
SIGNING_AGENT = "Kikoto managed signing"
VALIDITY_DAYS = 3650


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    private_key: ec.EllipticCurvePrivateKey
    chain: list[x509.Certificate]  # leaf first, then the root

    @property
    def root_pem(self) -> str:
        return self.chain[-1].public_bytes(serialization.Encoding.PEM).decode()


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    ca: bool,
    now: datetime.datetime,
) -> x509.Certificate:
    """A CA (signs certificates) or a leaf (signs code) certificate, valid VALIDITY_DAYS from `now`."""
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only"), False
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, decipher_only=False, **usage),
            critical=True,
        )
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kikoto"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def new_signing_key(name: str) -> SigningKey:
    """A P-256 key, a self-signed root CA, and a leaf certificate for code signing."""
    now = datetime.datetime.now(datetime.UTC)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{name} root")
    root = _certificate(root_name, root_name, root_key, root_key, True, now)
    leaf = _certificate(_name(name), root_name, leaf_key, root_key, False, now)
    return SigningKey(leaf_key, [leaf, root])


def dump_key(key: SigningKey) -> tuple[bytes, str]:
    """(private key PEM, certificate chain PEM)."""
    private = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private, "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in key.chain)


def load_key(private_pem: bytes, chain_pem: str) -> SigningKey:
    private = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError("signing keys are ECDSA keys")
    return SigningKey(private, x509.load_pem_x509_certificates(chain_pem.encode()))


def envelope(key: SigningKey, target: dict[str, Any], signed_at: datetime.datetime) -> bytes:
    """The JWS envelope (flattened JSON serialization) signing `target`, an OCI descriptor."""
    payload = _b64url(json.dumps({"targetArtifact": target}, separators=(",", ":")).encode())
    protected = _b64url(
        json.dumps(
            {
                "alg": "ES256",
                "crit": ["io.cncf.notary.signingScheme"],
                "cty": PAYLOAD_MEDIA_TYPE,
                "io.cncf.notary.signingScheme": "notary.x509",
                "io.cncf.notary.signingTime": signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            separators=(",", ":"),
        ).encode()
    )
    der = key.private_key.sign(f"{protected}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)  # JWS wants r || s, 32 bytes each for P-256
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return json.dumps(
        {
            "payload": payload,
            "protected": protected,
            "header": {
                "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in key.chain],
                "io.cncf.notary.signingAgent": SIGNING_AGENT,
            },
            "signature": _b64url(signature),
        },
        separators=(",", ":"),
    ).encode()


def signature_annotations(key: SigningKey) -> dict[str, str]:
    """The annotations a Notary Project signature manifest carries: its certificate chain's
    thumbprints, leaf first."""
    thumbprints = [hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in key.chain]
    return {THUMBPRINTS: json.dumps(thumbprints)}
