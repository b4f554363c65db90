"""Content digests (image-spec descriptor.md): parsed in one place, hashed in one place."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import DigestInvalid

DIGEST = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")
# The registered algorithms we implement, with the exact form of their encoded part.
ALGORITHMS = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}


@dataclass(frozen=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


def parse_digest(text: str) -> Digest:
    """Parse and validate a digest; unknown-but-grammatical algorithms are refused as unsupported."""
    match = DIGEST.fullmatch(text or "")
    if not match:
        raise DigestInvalid(f"invalid digest {text!r}", detail={"digest": text})
    algorithm, encoded = match.groups()
    if algorithm not in ALGORITHMS:
        raise DigestInvalid(
            f"unsupported digest algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}", detail={"digest": text}
        )
    if not ALGORITHMS[algorithm].fullmatch(encoded):
        raise DigestInvalid(f"invalid {algorithm} digest {text!r}", detail={"digest": text})
    return Digest(algorithm, encoded)


def check_algorithm(algorithm: str) -> str:
    if algorithm not in ALGORITHMS:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")
    return algorithm


def new_hasher(algorithm: str):
    return hashlib.new(check_algorithm(algorithm))


def digest_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())


def key_position(digest: str) -> float:
    """Where a digest falls in its algorithm's key space, from 0 to 1: digests are uniform, so
    a walk in digest order that has reached this one has done this share of the work."""
    encoded = digest.partition(":")[2][:8]
    try:
        return int(encoded.ljust(8, "0"), 16) / 16**8
    except ValueError:
        return 0.0
