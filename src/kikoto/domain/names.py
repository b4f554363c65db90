"""Repository names, tags and manifest references: the spec's grammar, one regex each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .digests import Digest, parse_digest
from .errors import ManifestInvalid, NameInvalid

# distribution-spec v1.1 "<name>" grammar; ECR's repositoryName pattern is the same.
REPOSITORY_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
REPOSITORY_NAME_MAX = 256  # ECR's limit; clients cap host + name at 255 anyway
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


@lru_cache(maxsize=4096)
def _valid_name(name: str) -> bool:
    """Checked on every request with a repository in its path: the same few names, cached."""
    return len(name) <= REPOSITORY_NAME_MAX and REPOSITORY_NAME.fullmatch(name) is not None


def is_valid_name(name: str) -> bool:
    return _valid_name(name)


def check_repository_name(name: str) -> str:
    """A name as a client gives it (the faces check this, so no client can name a key)."""
    if not _valid_name(name):
        raise NameInvalid(f"invalid repository name: {name!r}", detail={"name": name})
    return name


def check_repository_key(key: str) -> str:
    """A repository as the services name it: a name, or another account's key (domain/accounts.py)."""
    if key.startswith("~"):
        account, slash, name = key[1:].partition("/")
        if slash and len(account) == 12 and account.isdigit():
            check_repository_name(name)
            return key
    return check_repository_name(key)


def is_valid_tag(tag: str) -> bool:
    return TAG.fullmatch(tag) is not None


def check_tag(tag: str) -> str:
    if not is_valid_tag(tag):
        raise ManifestInvalid(
            f"invalid tag {tag!r}: a tag is 1-128 characters of [A-Za-z0-9_.-] and does not start with '.' or '-'",
            detail={"tag": tag},
        )
    return tag


@dataclass(frozen=True)
class Reference:
    """What follows /manifests/: a tag or a digest, never both."""

    tag: str | None = None
    digest: Digest | None = None


def parse_reference(reference: str) -> Reference:
    if ":" in reference:
        return Reference(digest=parse_digest(reference))
    return Reference(tag=check_tag(reference))
