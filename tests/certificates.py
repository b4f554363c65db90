"""A self-signed certificate for 127.0.0.1, for the tests that speak TLS."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Certificate:
    cert: Path  # the certificate alone: what clients trust (certs/ca.crt, as skopeo's --cert-dir wants)
    key: Path
    pem: Path  # certificate then key, as HAProxy's `ssl crt` wants

    @property
    def cert_dir(self) -> str:
        return str(self.cert.parent)


def self_signed(directory: Path) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert = certificate.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "certs").mkdir(parents=True, exist_ok=True)
    found = Certificate(directory / "certs" / "ca.crt", directory / "key.pem", directory / "both.pem")
    found.cert.write_bytes(cert)
    found.key.write_bytes(private)
    found.pem.write_bytes(cert + private)
    return found
